"""SQLite source: online backup API out, verified temp file or backup API in.

Dump: SQLite's online backup API copies the database into a private temp
file while the site keeps writing.  In WAL mode the copy runs in one step: a
WAL reader never blocks writers, and one step means one consistent snapshot.
In rollback-journal mode it copies ``pages`` pages per step and releases the
lock in between, so writers wait at most one step; a write by another
connection restarts the copy, and after ``max_restarts`` restarts the copy
finishes in one step (writers then wait for that one copy).  Row counts come
from the copy, so they are exactly what the stream contains.  The temp file
is unlinked as soon as it is open: nothing is left behind, even on a crash.

Restore: the stream is written to a temp file next to the target, fsynced,
and checked (``PRAGMA integrity_check``, row counts equal to the record)
before the target is touched.  A target that does not exist yet gets the
file by an atomic rename (stale ``-wal``/``-shm``/``-journal`` files of an
earlier database at that path are removed first: SQLite would replay a stale
WAL into the new file).  An existing target is overwritten through the
backup API in one step: it is a single write transaction of SQLite's own,
so it is atomic even across a crash, and connections the site holds open
see the restored content instead of an unlinked file.  Either way a failed
restore leaves the old database as it was.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, ClassVar

from sitesnap.errors import IntegrityError, RestoreError, SourceError
from sitesnap.progress import NULL_SINK, ProgressSink, Tracker
from sitesnap.sources.db import DumpInfo, DumpInfoFuture, RestoreReport, TargetState
from sitesnap.sources.dumprows import RowReader
from sitesnap.sources.kind import SourceSpec, StreamSource, Verification, absolute, compare_counts, spec_field
from sitesnap.sources.sqliterows import SqliteRows
from sitesnap.sources.swap import DatabaseRestore, SwapResult

__all__ = ["SqliteSource"]

_SIDECARS = ("-wal", "-shm", "-journal")
_BLOCK = 1 << 20


class _Restart(Exception):
    """Raised from the backup progress callback to switch to a one-step copy."""


def _connect(path: Path, *, create: bool = False, timeout: float = 30.0) -> sqlite3.Connection:
    """Open ``path`` without ever creating it by accident (``mode=rw`` unless ``create``)."""
    mode = "rwc" if create else "rw"
    try:
        return sqlite3.connect(
            f"{path.resolve().as_uri()}?mode={mode}", uri=True, timeout=timeout, isolation_level=None
        )
    except sqlite3.Error as exc:
        raise SourceError(f"cannot open SQLite database {path}: {exc}") from exc


def table_counts(conn: sqlite3.Connection) -> dict[str, int]:
    """Row count of every ordinary table (virtual tables are counted through their shadow tables)."""
    rows = conn.execute(
        "SELECT name, sql FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "ORDER BY name"
    ).fetchall()
    counts: dict[str, int] = {}
    for name, sql in rows:
        if (sql or "").upper().startswith("CREATE VIRTUAL"):
            continue
        quoted = '"' + name.replace('"', '""') + '"'
        counts[name] = int(conn.execute(f"SELECT count(*) FROM {quoted}").fetchone()[0])
    return counts


def _integrity(conn: sqlite3.Connection) -> str:
    rows = conn.execute("PRAGMA integrity_check").fetchall()
    return "ok" if [r[0] for r in rows] == ["ok"] else "; ".join(str(r[0]) for r in rows[:5])


class SqliteSource(StreamSource):
    """A SQLite database file.  Thread-compatible: one dump or restore at a time per instance."""

    kind = "sqlite"
    type: ClassVar[str] = "sqlite"
    extension: ClassVar[str] = "sqlite"
    location: ClassVar[str] = "path"
    restores_damaged: ClassVar[bool] = True

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        name: str = "",
        pages: int = 1024,
        max_restarts: int = 3,
        temp_dir: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.name = name or self.path.name
        self.pages = pages
        self.max_restarts = max_restarts
        self.temp_dir = temp_dir

    # -- dump -------------------------------------------------------------

    @contextlib.contextmanager
    def dump(self) -> Iterator[tuple[BinaryIO, DumpInfoFuture]]:
        """Yield a consistent copy of the database as a stream; see the module docstring."""
        if not self.path.is_file():
            raise SourceError(f"SQLite database {self.path} does not exist")
        fd, tmp = tempfile.mkstemp(prefix="sitesnap-sqlite-", suffix=".db", dir=self.temp_dir)
        os.close(fd)
        try:
            info = self._backup_to(Path(tmp))
            stream = open(tmp, "rb")  # noqa: SIM115 - closed below
        finally:
            for suffix in ("", *_SIDECARS):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp + suffix)
        future = DumpInfoFuture()
        future.set(info)
        with stream:
            yield stream, future

    def _backup_to(self, dest_path: Path) -> DumpInfo:
        src = _connect(self.path)
        dst = sqlite3.connect(dest_path, isolation_level=None)
        try:
            wal = src.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal"
            self._copy(src, dst, stepwise=not wal)
            tables = table_counts(dst)
            version = sqlite3.sqlite_version
        except sqlite3.Error as exc:
            raise SourceError(f"SQLite backup of {self.path} failed: {exc}") from exc
        finally:
            dst.close()
            src.close()
        return DumpInfo(
            kind="sqlite",
            format="sqlite3-db",
            server_version=version,
            tool="python-sqlite3-backup",
            tool_version=version,
            tables=tables,
            database=self.name,
            warnings=[],
        )

    def _copy(self, src: sqlite3.Connection, dst: sqlite3.Connection, *, stepwise: bool) -> None:
        if not stepwise:
            src.backup(dst, pages=-1)
            return
        restarts = 0
        last_remaining: int | None = None

        def watch(_status: int, remaining: int, total: int) -> None:
            nonlocal restarts, last_remaining
            if last_remaining is not None and remaining > last_remaining:
                restarts += 1
                if restarts > self.max_restarts:
                    raise _Restart
            last_remaining = remaining

        try:
            src.backup(dst, pages=self.pages, progress=watch, sleep=0.001)
        except _Restart:
            src.backup(dst, pages=-1)

    # -- inspect ----------------------------------------------------------

    def inspect(self, target: str | None = None) -> TargetState:
        """Whether the target file exists, its tables and row counts."""
        path = Path(target) if target else self.path
        if not path.is_file():
            return TargetState(kind="sqlite", target=str(path), exists=False)
        conn = _connect(path)
        try:
            tables = table_counts(conn)
        except sqlite3.Error as exc:
            raise SourceError(f"cannot read SQLite database {path}: {exc}") from exc
        finally:
            conn.close()
        return TargetState(kind="sqlite", target=str(path), exists=True, tables=tables, size=path.stat().st_size)

    # -- restore ----------------------------------------------------------

    def restore(
        self,
        stream: BinaryIO,
        info: DumpInfo,
        target: str | None = None,
        progress: ProgressSink = NULL_SINK,
    ) -> RestoreReport:
        """Restore the dump to ``target`` (default: this database); see the module docstring.

        Raises :class:`RestoreError` when the dump is damaged or its row counts
        differ from ``info``; the target is then untouched.
        """
        path = Path(target) if target else self.path
        return _SqliteRestore(path).run(stream, info, progress)

    # -- the rest of the source interface ---------------------------------------

    @classmethod
    def from_config(cls, spec: SourceSpec) -> SqliteSource:
        return cls(str(spec_field(spec, "path")), name=spec.name)

    def origin(self) -> str:
        return str(self.path)

    def check_available(self) -> None:
        if not self.path.exists():
            raise SourceError(f"source {self.name!r}: {self.path} does not exist")

    def resolve_target(self, target: str) -> str:
        return absolute(target)

    def scratch_target(self, scratch: Path, rename: Callable[[str], str]) -> str:
        return str(scratch / self.section / self.entry())

    @classmethod
    def row_reader(cls, open_copy: Callable[[], BinaryIO], workdir: Path) -> RowReader:
        """The stored file, copied into ``workdir`` and queried there."""
        path = workdir / f"{len(list(workdir.iterdir()))}.sqlite"
        with open(path, "wb") as out, open_copy() as src:
            shutil.copyfileobj(src, out, 1 << 20)
        return SqliteRows(path)

    def drop(self, target: str) -> None:
        for suffix in ("", *_SIDECARS):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(target + suffix)

    def set_aside(self, target: str) -> str:
        """Rename a damaged database file (and its -wal/-shm/-journal) aside; returns the new name."""
        path = Path(target)
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        aside = path.with_name(f"{path.name}.damaged-{stamp}")
        for suffix in ("", *_SIDECARS):
            src = Path(str(path) + suffix)
            if src.exists():
                os.rename(src, Path(str(aside) + suffix))
        return str(aside)

    def verify(self, target: str, info: DumpInfo, report: RestoreReport) -> Verification:
        """``PRAGMA integrity_check`` on a read-only connection, then row counts equal to the record."""
        try:
            conn = sqlite3.connect(f"{Path(target).resolve().as_uri()}?mode=ro", uri=True)
            try:
                status = "; ".join(str(r[0]) for r in conn.execute("PRAGMA integrity_check").fetchall())
            finally:
                conn.close()
        except sqlite3.Error as exc:
            raise IntegrityError(f"{type(exc).__name__}: {exc}") from exc
        if status != "ok":
            raise IntegrityError(f"PRAGMA integrity_check: {status}")
        tables = self.inspect(target).tables
        compare_counts(tables, info.tables)
        return Verification(tables, {"integrity_check": status, "tables": tables},
                            f"integrity ok, {len(tables)} tables, {sum(tables.values())} rows as recorded")


class _SqliteRestore(DatabaseRestore):
    """Write the dump to a temp file beside ``path``, check it, then rename it or copy it over."""

    kind = "sqlite"
    phases = ("write", "verify", "replace")

    def __init__(self, path: Path) -> None:
        super().__init__(str(path), f"SQLite database {path}")
        self.path = path
        self.tmp = Path()
        self.fd = -1

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        yield

    def create_temp(self) -> None:
        fd, name = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".sitesnap-tmp", dir=self.path.parent)
        self.fd, self.tmp = fd, Path(name)

    def load(self, stream: BinaryIO, tracker: Tracker) -> int:
        written = 0
        with os.fdopen(self.fd, "wb") as out:
            while True:
                block = stream.read(_BLOCK)
                if not block:
                    break
                out.write(block)
                written += len(block)
                tracker.update(bytes_done=len(block))
            out.flush()
            os.fsync(out.fileno())
        return written

    def count_temp(self) -> dict[str, int]:
        try:
            conn = _connect(self.tmp)
        except SourceError as exc:
            raise RestoreError(f"the dump is not a usable SQLite database: {exc}") from exc
        try:
            status = _integrity(conn)
            if status != "ok":
                raise RestoreError(f"the dump fails PRAGMA integrity_check: {status}")
            return table_counts(conn)
        except sqlite3.DatabaseError as exc:
            raise RestoreError(f"the dump is not a usable SQLite database: {exc}") from exc
        finally:
            conn.close()

    def verify_temp(self, info: DumpInfo) -> dict[str, int]:
        counts = self.count_temp()
        if counts != info.tables:
            raise RestoreError(f"the dump's row counts {counts} differ from its record {info.tables}")
        return counts

    def swap(self, tables: dict[str, int]) -> SwapResult:
        path = self.path
        existed = path.exists()
        if existed:
            _overwrite(self.tmp, path)
        else:
            for suffix in _SIDECARS:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(str(path) + suffix)
            os.replace(self.tmp, path)
            _fsync_dir(path.parent)
        final = _counts_of(path)
        if final != tables:
            raise RestoreError(f"{path} after restore has row counts {final}, expected {tables}")
        return SwapResult("backup-api" if existed else "rename", created=not existed)

    def drop_temp(self) -> None:
        for suffix in ("", *_SIDECARS):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(str(self.tmp) + suffix)


def _counts_of(path: Path) -> dict[str, int]:
    conn = _connect(path)
    try:
        return table_counts(conn)
    except sqlite3.Error as exc:
        raise SourceError(f"cannot read SQLite database {path}: {exc}") from exc
    finally:
        conn.close()


def _overwrite(tmp: Path, path: Path) -> None:
    """Copy ``tmp`` over the live database ``path`` in one SQLite write transaction."""
    src = _connect(tmp)
    dst = _connect(path)
    try:
        src.backup(dst, pages=-1)
    except sqlite3.Error as exc:
        raise RestoreError(f"cannot overwrite {path}: {exc}") from exc
    finally:
        dst.close()
        src.close()


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
