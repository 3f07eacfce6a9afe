"""Follow a SQLite database's WAL: a base copy, then the frames of every commit.

How continuity is kept (docs/continuous.md has the long form):

- The position is (WAL salts, frames shipped).  Salts change whenever the
  WAL restarts from its beginning, so equal salts prove that the frames
  after the position are the ones that followed it.
- Polls take no lock: the wal-index header (its two copies equal) names
  how many frames are committed, and those frames are read from the WAL.
- Between polls the capture keeps a read transaction open, begun while
  frames newer than any backfilled one exist, so it holds a read mark
  above zero: no writer can restart the WAL under it.  The read
  transaction moves forward (a second connection begins before the first
  ends) only when the WAL has frames past its mark.  Right after a base of
  a fully checkpointed WAL the mark is zero; a poll then reads the header
  again after the frames, and a restart in between is a discontinuity.
- A base copy is taken in a read transaction that began with no commit
  between two reads of the wal-index header, so it holds exactly the
  frames its position names (the write lock settles it after 50 tries).
- After a batch is stored the caller runs :meth:`SqliteTailer.checkpoint`:
  PASSIVE (never waits), and TRUNCATE when the WAL file grew past a limit.
  A truncation ends the generation (nothing proves that no writer committed
  between the last poll and the truncation); the next base is of an empty
  WAL, so it is cheap to continue.
- A position at frame 0 of an empty WAL is *fresh*: the first WAL written
  after it is accepted when it carries the salts the wal-index announced
  or checkpoint sequence 0 (a writer that never restarted a WAL draws new
  salts and writes sequence 0, while a restart always writes a sequence of
  at least 1): so a WAL that was begun and restarted again unseen is still
  caught.
- Anything else (salts changed, fewer frames than shipped) raises
  :class:`Discontinuity`: the caller starts a new generation from a fresh
  base copy.  Nothing is ever papered over.

Not thread-safe: one tailer per database, used by one thread.
"""

from __future__ import annotations

import os
import sqlite3
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sitesnap.capture.walfile import (
    FRAME_HEADER,
    IndexHeader,
    frame_offset,
    parse_frame_header,
    parse_index_header,
    parse_wal_header,
)
from sitesnap.errors import IntegrityError, SourceError

__all__ = ["DEFAULT_WAL_LIMIT", "Batch", "Discontinuity", "SqliteTailer", "WalPosition", "pack_frame"]

DEFAULT_WAL_LIMIT = 64 << 20
_RECORD = struct.Struct("<II")  # page number, database size after commit (0 inside a transaction)


def pack_frame(page: int, commit_size: int, data: bytes) -> bytes:
    """One frame as stored in a log segment's payload: page number, commit size, page."""
    return _RECORD.pack(page, commit_size) + data


class Discontinuity(Exception):
    """The WAL no longer continues the shipped position: start a new generation."""


@dataclass(frozen=True)
class WalPosition:
    """Where the capture stands: the WAL's salts and the frames of it already shipped."""

    salt: bytes
    frame: int
    page_size: int
    fresh: bool = False  # frame 0 of an empty WAL: the next WAL begun is accepted (module docstring)

    def to_params(self) -> dict[str, object]:
        return {"engine": "sqlite", "salt": self.salt.hex(), "frame": self.frame, "page_size": self.page_size,
                "fresh": self.fresh}

    @classmethod
    def from_params(cls, params: dict[str, object]) -> WalPosition | None:
        try:
            return cls(bytes.fromhex(str(params["salt"])), int(str(params["frame"])), int(str(params["page_size"])),
                       params.get("fresh") is True)
        except (KeyError, ValueError):
            return None


@dataclass
class Batch:
    """New committed frames: the payload, and per commit (observed time, end offset in the payload)."""

    payload: bytes
    commits: list[tuple[int, int]] = field(default_factory=list)
    frames: int = 0
    start: WalPosition | None = None
    end: WalPosition | None = None
    time_ns: int = 0


def _connect(path: Path, timeout: float) -> sqlite3.Connection:
    try:
        return sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True, timeout=timeout,
                               isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise SourceError(f"cannot open SQLite database {path}: {exc}") from exc


class SqliteTailer:
    """Reads what a WAL-mode database commits, for one capture process."""

    def __init__(self, path: str | os.PathLike[str], *, wal_limit: int = DEFAULT_WAL_LIMIT,
                 busy_timeout: float = 30.0, clock: Callable[[], int] = time.time_ns) -> None:
        self.path = Path(path)
        self.wal_path = Path(f"{self.path}-wal")
        self.shm_path = Path(f"{self.path}-shm")
        self.wal_limit = wal_limit
        self.clock = clock
        self._lock_conn = _connect(self.path, busy_timeout)
        self._readers = [_connect(self.path, busy_timeout), _connect(self.path, busy_timeout)]
        self._checkpointer = _connect(self.path, 1.0)
        self.position: WalPosition | None = None
        self.truncations = 0  # WAL truncations past the limit (each ends the generation)
        self._fds: dict[Path, int] = {}
        self._mark = 0  # an upper bound of the current read transaction's WAL mark
        self._require_wal()

    def _require_wal(self) -> None:
        mode = str(self._lock_conn.execute("PRAGMA journal_mode").fetchone()[0]).lower()
        if mode != "wal":
            self.close()
            raise SourceError(
                f"SQLite database {self.path} is in {mode} journal mode; continuous capture needs WAL mode",
                hint=f"Switch it once (it stays switched): sqlite3 {self.path} 'PRAGMA journal_mode=WAL'",
            )

    def close(self) -> None:
        """Close the connections first, then the raw descriptors (see :meth:`_pread`)."""
        for conn in (*self._readers, self._lock_conn, self._checkpointer):
            conn.close()
        for fd in self._fds.values():
            os.close(fd)
        self._fds = {}

    def _pread(self, path: Path, length: int, offset: int) -> bytes:
        """Read from the ``-wal`` or ``-shm`` file through a descriptor kept open until :meth:`close`.

        Never open and close these files while connections are open: POSIX
        releases *all* of a process's fcntl locks on a file when *any* of
        its descriptors for that file is closed, and SQLite's read marks and
        write lock are such locks on the ``-shm`` file.  Closing a short-lived
        descriptor would silently drop the capture's read transaction, and a
        checkpoint could then rewrite pages under a base copy being taken.
        """
        fd = self._fds.get(path)
        if fd is None:
            fd = self._fds[path] = os.open(path, os.O_RDONLY)
        return os.pread(fd, length, offset)

    # --- the write lock and the wal-index ------------------------------------------

    def _index(self) -> IndexHeader:
        return parse_index_header(self._pread(self.shm_path, 136, 0))

    def _begin_locked(self) -> IndexHeader:
        try:
            self._lock_conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise SourceError(f"{self.path}: cannot take the write lock to read the WAL: {exc}") from exc
        try:
            return self._index()
        except BaseException:
            self._lock_conn.execute("ROLLBACK")
            raise

    def _continued(self, position: WalPosition, header: IndexHeader) -> WalPosition | None:
        """``position`` carried over to the WAL as it is now, or None when it does not continue."""
        if position.fresh and header.max_frame > 0:
            wal = parse_wal_header(self._pread(self.wal_path, 32, 0))
            if wal is None or not (wal.salt == position.salt or wal.checkpoint_seq == 0):
                return None
            return WalPosition(wal.salt, 0, position.page_size)
        if position.fresh:
            return position
        if header.salt != position.salt or header.max_frame < position.frame:
            return None
        return position

    def _page_size(self) -> int:
        return int(self._lock_conn.execute("PRAGMA page_size").fetchone()[0])

    def _begin_read(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN")
        conn.execute("SELECT count(*) FROM sqlite_schema").fetchone()

    @staticmethod
    def _end_read(conn: sqlite3.Connection) -> None:
        if conn.in_transaction:
            conn.execute("ROLLBACK")

    def _stable_index(self) -> IndexHeader:
        """The wal-index header, read again while a writer is between updating its two copies."""
        for _ in range(1000):
            try:
                return self._index()
            except IntegrityError:
                time.sleep(0.0005)
        return self._index()

    def _begin_read_exact(self, conn: sqlite3.Connection) -> IndexHeader | None:
        """Begin a read; the header it stands at when no commit came between (else None, read ended)."""
        before = self._stable_index()
        self._begin_read(conn)
        if self._stable_index().same_state(before):
            return before
        self._end_read(conn)
        return None

    def _move_read(self) -> None:
        """Move the read transaction forward when that keeps a read mark above zero.

        Any read transaction with a mark above zero blocks WAL restarts; the
        mark only limits how far checkpoints get.  The spare connection
        begins while the current one still reads, and only when the WAL has
        frames past the current mark, so it too gets a mark above zero.
        """
        if self._stable_index().max_frame <= self._mark:
            return
        spare, current = self._readers[1], self._readers[0]
        self._begin_read(spare)
        self._mark = self._stable_index().max_frame  # at least the new mark: a safe bound for next time
        self._end_read(current)
        self._readers.reverse()

    # --- base, resume, poll -------------------------------------------------------

    def take_base(self, dest: Path) -> tuple[WalPosition, int]:
        """Copy the database into the new file ``dest``; returns the position it stands at and the time.

        The copy is taken in a read transaction known to stand exactly at
        the position (no commit between reading the wal-index and beginning
        it; after 50 tries, the write lock makes sure of that).
        """
        for conn in self._readers:
            self._end_read(conn)
        now = self.clock()
        header = None
        for _ in range(50):
            header = self._begin_read_exact(self._readers[0])
            if header is not None:
                break
        if header is None:
            header = self._begin_locked()
            try:
                now = self.clock()
                self._begin_read(self._readers[0])
            finally:
                self._lock_conn.execute("ROLLBACK")
        self._mark = header.max_frame
        position = WalPosition(header.salt, header.max_frame, self._page_size(), header.max_frame == 0)
        target = sqlite3.connect(dest)
        try:
            self._readers[0].backup(target)
        finally:
            target.close()
        self.position = position
        return position, now

    def resume(self, position: WalPosition) -> bool:
        """Continue from a stored position if the WAL provably still continues it."""
        header = self._begin_locked()
        try:
            continued = self._continued(position, header)
            if continued is None or position.page_size != self._page_size():
                return False
            for conn in self._readers:
                self._end_read(conn)
            self._begin_read(self._readers[0])
            self._mark = header.max_frame
        finally:
            self._lock_conn.execute("ROLLBACK")
        self.position = continued
        return True

    def poll(self) -> Batch | None:
        """The commits since the position (None when there are none); Discontinuity on a reset WAL.

        Takes no lock: the wal-index header names the committed frames, the
        capture's read mark keeps them from being overwritten, and the header
        is read again afterwards to prove the WAL was not restarted meanwhile
        (possible only while the mark is zero, right after a base of a fully
        checkpointed WAL).
        """
        if self.position is None:
            raise Discontinuity("no position yet")
        header = self._stable_index()
        now = self.clock()
        start = self._continued(self.position, header)
        if start is None:
            raise Discontinuity(f"{self.path}: the WAL was reset or checkpointed behind the capture")
        if header.max_frame == start.frame:
            return None
        batch = self._read_frames(start, header.max_frame, now)
        if self._stable_index().salt != header.salt:
            raise Discontinuity(f"{self.path}: the WAL was restarted while the capture read it")
        self._move_read()
        self.position = batch.end
        return batch

    def _read_frames(self, start: WalPosition, max_frame: int, now: int) -> Batch:
        size = start.page_size
        parts: list[bytes] = []
        commits: list[tuple[int, int]] = []
        offset = 0
        for index in range(start.frame, max_frame):
            raw = self._pread(self.wal_path, FRAME_HEADER + size, frame_offset(index, size))
            if len(raw) != FRAME_HEADER + size:
                raise IntegrityError(f"{self.wal_path}: shorter than its wal-index says")
            frame = parse_frame_header(raw)
            if frame.salt != start.salt:
                raise Discontinuity(f"{self.wal_path}: a frame carries other salts")
            parts.append(pack_frame(frame.page, frame.commit_size, raw[FRAME_HEADER:]))
            offset += _RECORD.size + size
            if frame.commit_size:
                commits.append((now, offset))
        if not commits or commits[-1][1] != offset:
            raise IntegrityError(f"{self.wal_path}: the committed frames do not end with a commit")
        end = WalPosition(start.salt, max_frame, size)
        return Batch(b"".join(parts), commits, max_frame - start.frame, start, end, now)

    # --- checkpoints --------------------------------------------------------------

    def checkpoint(self) -> None:
        """PASSIVE after every stored batch; TRUNCATE once the WAL passes the limit.

        Call only after the shipped frames are stored.  Raises Discontinuity
        when a truncation cannot prove it kept the generation continuous.
        """
        self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        try:
            wal_size = self.wal_path.stat().st_size
        except FileNotFoundError:
            return
        if wal_size > self.wal_limit and self.position is not None:
            self._truncate(self.position)

    def _truncate(self, position: WalPosition) -> None:
        """TRUNCATE the WAL; a truncation that ran always ends the generation.

        SQLite reports no frame count for a truncating checkpoint and a
        writer may commit between the last poll and the checkpoint, so
        nothing proves the truncated WAL held only shipped frames: the
        caller takes a new base (of an empty WAL, so it starts fresh).
        """
        for conn in self._readers:
            self._end_read(conn)
        busy = self._checkpointer.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        if not busy:
            self.truncations += 1
            raise Discontinuity(f"{self.path}: the WAL passed {self.wal_limit} bytes and was truncated")
        header = self._begin_locked()
        try:
            if self._continued(position, header) is None:
                raise Discontinuity(f"{self.path}: the WAL was reset while the capture checkpointed")
            self._begin_read(self._readers[0])
            self._mark = header.max_frame
        finally:
            self._lock_conn.execute("ROLLBACK")
