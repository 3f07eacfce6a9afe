"""Repository locks: objects under ``locks/`` with expiry and refresh.

Shared locks (backup, check, restore) coexist; an exclusive lock (prune,
repair) excludes everything.  A lock is refreshed every ``REFRESH`` seconds by
a background thread; one older than ``STALE_AFTER`` is stale, and so is one
from this host whose process no longer exists.  Stale locks are reported, and
removed by ``unlock`` (or automatically when taking a lock, for locks whose
owner is provably dead on this host).
"""

from __future__ import annotations

import contextlib
import getpass
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sitesnap.errors import IntegrityError, ObjectNotFound, RepositoryLocked
from sitesnap.ids import new_random_id
from sitesnap.process import pid_alive

__all__ = ["LockInfo", "RepoLock"]

LOCKS_PREFIX = "locks/"
REFRESH = timedelta(minutes=5)
STALE_AFTER = timedelta(minutes=30)


@dataclass(frozen=True)
class LockInfo:
    id: str
    time: datetime
    hostname: str
    username: str
    pid: int
    exclusive: bool
    operation: str

    def to_json(self) -> dict[str, Any]:
        return {
            "time": self.time.isoformat(),
            "hostname": self.hostname,
            "username": self.username,
            "pid": self.pid,
            "exclusive": self.exclusive,
            "operation": self.operation,
        }

    @classmethod
    def from_json(cls, lock_id: str, data: dict[str, Any]) -> LockInfo:
        return cls(
            lock_id,
            datetime.fromisoformat(data["time"]),
            str(data["hostname"]),
            str(data.get("username", "")),
            int(data["pid"]),
            bool(data["exclusive"]),
            str(data.get("operation", "")),
        )

    def is_stale(self, now: datetime | None = None) -> bool:
        now = now or datetime.now(UTC)
        if now - self.time > STALE_AFTER:
            return True
        return self.hostname == socket.gethostname() and not pid_alive(self.pid)

    def describe(self) -> str:
        kind = "exclusive" if self.exclusive else "shared"
        return (
            f"{kind} lock {self.id[:8]} for {self.operation or 'an operation'} by "
            f"{self.username}@{self.hostname} pid {self.pid} since {self.time:%Y-%m-%d %H:%M:%S} UTC"
        )


class RepoLock:
    """A held lock.  Use via ``Repository.lock()``; releasing is idempotent."""

    def __init__(
        self,
        write: Callable[[str, LockInfo], None],
        delete: Callable[[str], None],
        exclusive: bool,
        operation: str,
    ) -> None:
        self._write = write
        self._delete = delete
        self.info = LockInfo(
            new_random_id(),
            datetime.now(UTC),
            socket.gethostname(),
            getpass.getuser(),
            os.getpid(),
            exclusive,
            operation,
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lost: Exception | None = None

    def start_refresh(self) -> None:
        self._thread = threading.Thread(target=self._refresh_loop, name="sitesnap-lock-refresh", daemon=True)
        self._thread.start()

    def _refresh_loop(self) -> None:
        while not self._stop.wait(REFRESH.total_seconds()):
            old = self.info.id
            new = LockInfo(new_random_id(), datetime.now(UTC), *_tail(self.info))
            try:
                self._write(new.id, new)
                self.info = new
                self._delete(old)
            except Exception as exc:
                self.lost = exc

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        with contextlib.suppress(ObjectNotFound):
            self._delete(self.info.id)


def _tail(info: LockInfo) -> tuple[str, str, int, bool, str]:
    return info.hostname, info.username, info.pid, info.exclusive, info.operation


def conflicts(mine: LockInfo, others: list[LockInfo]) -> list[LockInfo]:
    """Non-stale locks of others that ``mine`` cannot coexist with."""
    return [
        o
        for o in others
        if o.id != mine.id and (mine.exclusive or o.exclusive) and not o.is_stale()
    ]


def raise_conflict(found: list[LockInfo]) -> None:
    if found:
        raise RepositoryLocked("; ".join(o.describe() for o in found))


def parse_lock(lock_id: str, data: Any) -> LockInfo:
    try:
        return LockInfo.from_json(lock_id, data)
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise IntegrityError(f"lock {lock_id[:8]} is malformed ({exc})") from None
