"""Cross-process exclusive locks on files in the state directory.

A :class:`FileLock` is an ``flock`` on a file: the kernel drops it when the
holding process dies, however it dies (``kill -9`` included), so a lock is
never stale; the file only keeps the last holder's pid, host and time for the
message shown to whoever finds it taken.  Locks are per open file, so two
``FileLock`` objects on one path exclude each other even inside one process.
Not for network file systems, where ``flock`` may be local to one client.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["FileLock", "LockBusy"]

_POLL_SECONDS = 0.05


class LockBusy(Exception):
    """The lock is held by another process (or another FileLock); ``holder`` says by whom."""

    def __init__(self, path: Path, holder: dict[str, Any]) -> None:
        self.path = path
        self.holder = holder
        super().__init__(f"{path} is held by {describe_holder(holder)}")


def describe_holder(holder: dict[str, Any]) -> str:
    if not holder:
        return "another process"
    return f"pid {holder.get('pid')} on {holder.get('host')} since {holder.get('since')}"


class FileLock:
    """An exclusive lock held from :meth:`acquire` to :meth:`release` (or a ``with`` block).

    Not re-entrant; thread-safe only in the sense that two instances exclude
    each other.  ``info`` is stored in the file beside pid, host and time.
    """

    def __init__(self, path: Path, **info: Any) -> None:
        self.path = path
        self._info = info
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, *, wait: float = 0.0) -> FileLock:
        """Take the lock, waiting up to ``wait`` seconds; raises :class:`LockBusy`."""
        if self._fd is not None:
            raise RuntimeError(f"{self.path} is already held by this FileLock")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = _read_holder(fd)
                    os.close(fd)
                    raise LockBusy(self.path, holder) from None
                time.sleep(_POLL_SECONDS)
        record = {"pid": os.getpid(), "host": socket.gethostname(),
                  "since": datetime.now(UTC).isoformat(timespec="seconds"), **self._info}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        """Drop the lock; idempotent.  The file stays (removing it would race a new holder)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def __enter__(self) -> FileLock:
        """Acquire without waiting, unless already acquired (``with lock.acquire(wait=5):``)."""
        return self if self.held else self.acquire()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


def _read_holder(fd: int) -> dict[str, Any]:
    try:
        data = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
