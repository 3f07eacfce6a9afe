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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sitesnap.errors import IntegrityError, ObjectNotFound, RepositoryLocked, WriteOnlyError
from sitesnap.format.compress import Compressor
from sitesnap.format.envelope import KIND_LOCK, decode_json, encode_json
from sitesnap.ids import new_random_id
from sitesnap.process import pid_alive
from sitesnap.repository.config import list_ids
from sitesnap.repository.sealer import Sealer
from sitesnap.storage.base import Storage

__all__ = ["LockInfo", "LockStore", "RepoLock"]

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


class LockStore:
    """The ``locks/`` objects of one repository: taking, listing and clearing locks.

    Locks are sealed like index files (``Sealer.seal_shared``), so write-only
    hosts and password holders see each other's locks once write-only mode
    is on.  On a write-only host, locks written with the master key are
    neither readable nor broken: they are kept in ``foreign_locks`` and
    block it (see :meth:`lock`).
    """

    def __init__(self, storage: Storage, sealer: Sealer, compressor: Compressor) -> None:
        self.storage = storage
        self.sealer = sealer
        self.compressor = compressor
        self.foreign_locks: list[str] = []

    def write(self, lock_id: str, info: LockInfo) -> None:
        raw = self.sealer.seal_shared(self.compressor, KIND_LOCK, encode_json(info.to_json()))
        self.storage.write(LOCKS_PREFIX + lock_id, raw, exclusive=True)

    def delete(self, lock_id: str) -> None:
        self.storage.delete(LOCKS_PREFIX + lock_id)

    def list_locks(self) -> tuple[list[LockInfo], list[str]]:
        """(readable locks, IDs of unreadable lock objects); refreshes ``foreign_locks``."""
        locks: list[LockInfo] = []
        broken: list[str] = []
        self.foreign_locks = []
        for lock_id in list_ids(self.storage, LOCKS_PREFIX):
            try:
                raw = self.storage.read(LOCKS_PREFIX + lock_id)
                what = f"lock {lock_id[:8]}"
                locks.append(parse_lock(lock_id, decode_json(self.sealer.open_shared(raw, KIND_LOCK, what), what)))
            except ObjectNotFound:
                continue
            except WriteOnlyError:
                self.foreign_locks.append(lock_id)
            except IntegrityError:
                broken.append(lock_id)
        return locks, broken

    def remove_stale(self, *, all_locks: bool = False) -> list[LockInfo]:
        """Delete stale (or, with ``all_locks``, all) readable locks and every unreadable one."""
        locks, broken = self.list_locks()
        removed = [lk for lk in locks if all_locks or lk.is_stale()]
        for lk in removed:
            self.delete(lk.id)
        for lock_id in broken:
            self.delete(lock_id)
        return removed

    def _refuse_foreign_locks(self) -> None:
        """A write-only host cannot tell what a master-key lock guards: it could be a prune, so wait."""
        if self.foreign_locks:
            raise RepositoryLocked(
                f"{len(self.foreign_locks)} lock(s) written with the master key, which this write-only key cannot read",
                hint="Wait for the password holder's operation to finish, or run 'sitesnap unlock' with the password.",
            )

    @contextlib.contextmanager
    def lock(self, *, exclusive: bool = False, operation: str = "") -> Iterator[RepoLock]:
        """Hold a shared or exclusive lock for the duration of the block.

        Locks left by dead processes on this host are removed on the way in;
        live or foreign conflicting locks raise RepositoryLocked.
        """
        held = RepoLock(self.write, self.delete, exclusive, operation)
        locks, _ = self.list_locks()
        self._refuse_foreign_locks()
        for stale in [lk for lk in locks if lk.is_stale() and lk.hostname == held.info.hostname]:
            self.delete(stale.id)
        raise_conflict(conflicts(held.info, locks))
        try:
            self.write(held.info.id, held.info)
        except BaseException:
            # The write may have landed with only its reply lost: do not leave the lock behind.
            with contextlib.suppress(Exception):
                self.delete(held.info.id)
            raise
        try:
            # Two processes may have written at the same moment: look again.
            locks, _ = self.list_locks()
            raise_conflict(conflicts(held.info, locks))
            self._refuse_foreign_locks()
        except BaseException:
            held.release()
            raise
        held.start_refresh()
        try:
            yield held
        finally:
            held.release()
