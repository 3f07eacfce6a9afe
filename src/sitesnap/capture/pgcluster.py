"""A private, temporary PostgreSQL cluster that recovers a base backup to a point in time.

The cluster lives in one directory: ``data/`` (the base, unpacked),
``wal/`` (the WAL files ``restore_command`` copies from), ``sock/`` (its
only way in: ``listen_addresses = ''``, a Unix socket, trust for local
connections) and ``server.log``.  It runs as the ``postgres`` user (through
``runuser`` when sitesnap runs as root).  Our own ``postgresql.conf``
replaces the base's, ``postgresql.auto.conf`` is emptied, so nothing of the
source server's settings (ports, archive commands, libraries) can reach out
from the copy.
"""

from __future__ import annotations

import io
import os
import pwd
import re
import shutil
import subprocess
import tarfile
import time
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path

import psycopg

from sitesnap.errors import RestoreError

__all__ = ["RecoveryCluster", "run_as_postgres"]

_LAST_XACT = re.compile(r"last completed transaction was at log time (\S+ \S+)")
_PORT = 5432


def run_as_postgres() -> list[str]:
    """The command prefix that runs a program as ``postgres`` (none when already not root)."""
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


class _ChunkReader(io.RawIOBase):
    """A file over an iterator of byte chunks (for ``tarfile``'s stream mode)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self.chunks: Iterator[bytes] = iter(chunks)
        self.rest = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self.rest:
            try:
                self.rest = next(self.chunks)
            except StopIteration:
                return 0
        n = min(len(buffer), len(self.rest))
        buffer[:n] = self.rest[:n]
        self.rest = self.rest[n:]
        return n


class RecoveryCluster:
    """One recovery, in ``root`` (created by the caller, removed by :meth:`remove`)."""

    def __init__(self, bin_dir: Path, root: Path) -> None:
        self.bin_dir, self.root = bin_dir, root
        self.data, self.wal, self.sock = root / "data", root / "wal", root / "sock"
        self.log = root / "server.log"
        for path in (self.data, self.wal, self.sock):
            path.mkdir(mode=0o700, parents=True, exist_ok=True)

    def unpack_base(self, chunks: Iterable[bytes]) -> None:
        """Extract the base tar into ``data/`` (member paths are checked: nothing lands outside)."""
        with tarfile.open(fileobj=io.BufferedReader(_ChunkReader(chunks), 1 << 20), mode="r|") as tar:
            tar.extractall(self.data, filter="data")

    def add_wal(self, name: str, data: bytes) -> None:
        (self.wal / name).write_bytes(data)

    def configure(self, target_time: datetime | None) -> None:
        """Our settings, recovery to ``target_time`` (inclusive; None: to the end of the WAL), then promote."""
        lines = [
            "listen_addresses = ''", f"port = {_PORT}", f"unix_socket_directories = '{self.sock}'",
            "hot_standby = off", "archive_mode = off", "log_timezone = 'UTC'", "timezone = 'UTC'",
            "shared_preload_libraries = ''", "logging_collector = off", "max_connections = 20",
            "max_wal_senders = 0", "max_replication_slots = 0", "wal_level = replica",
            f"restore_command = 'cp \"{self.wal}/%f\" \"%p\"'", "recovery_target_action = 'promote'",
        ]
        if target_time is not None:
            lines += [f"recovery_target_time = '{target_time.isoformat(sep=' ')}'",
                      "recovery_target_inclusive = on"]
        (self.data / "postgresql.conf").write_text("\n".join(lines) + "\n")
        (self.data / "postgresql.auto.conf").write_text("")
        (self.data / "pg_hba.conf").write_text("local all all trust\n")
        (self.data / "pg_ident.conf").write_text("")
        for stale in ("standby.signal", "postmaster.pid", "postmaster.opts"):
            (self.data / stale).unlink(missing_ok=True)
        (self.data / "recovery.signal").write_text("")
        self._own()

    def _own(self) -> None:
        if os.geteuid() != 0:
            return
        user = pwd.getpwnam("postgres")
        for path in (self.root, *self.root.rglob("*")):
            os.lchown(path, user.pw_uid, user.pw_gid)
        self.data.chmod(0o700)

    def _pg_ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        argv = [*run_as_postgres(), str(self.bin_dir / "pg_ctl"), "-D", str(self.data), *args]
        return subprocess.run(argv, capture_output=True, text=True, check=False, cwd=self.root)

    def start(self, timeout: float = 3600.0) -> None:
        """Start, replay, wait until promoted; RestoreError with the server's last words if it stops."""
        proc = self._pg_ctl("-l", str(self.log), "-W", "start")
        if proc.returncode != 0:
            raise RestoreError(f"the recovery cluster did not start: {self.log_tail() or proc.stderr.strip()}")
        started = time.monotonic()
        while time.monotonic() < started + timeout:
            if self._pg_ctl("status").returncode == 3 and time.monotonic() > started + 5:
                raise RestoreError(f"recovery failed: {self.log_tail()}")
            try:
                with psycopg.connect(host=str(self.sock), port=_PORT, user="postgres", dbname="postgres",
                                     connect_timeout=5) as conn:
                    row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
                    if row is not None and not row[0]:
                        return
            except psycopg.OperationalError:
                pass
            time.sleep(0.2)
        raise RestoreError(f"recovery did not finish within {timeout:.0f} s: {self.log_tail()}")

    def databases(self) -> list[str]:
        with psycopg.connect(host=str(self.sock), port=_PORT, user="postgres", dbname="postgres") as conn:
            return [str(r[0]) for r in conn.execute("SELECT datname FROM pg_database WHERE datallowconn")]

    @property
    def socket_dir(self) -> str:
        return str(self.sock)

    @property
    def port(self) -> int:
        return _PORT

    def last_transaction(self) -> datetime | None:
        """The time of the last transaction replayed, as the server logged it."""
        try:
            found = _LAST_XACT.findall(self.log.read_text(errors="replace"))
        except OSError:
            return None
        return datetime.fromisoformat(found[-1]) if found else None

    def log_tail(self) -> str:
        try:
            lines = [ln for ln in self.log.read_text(errors="replace").splitlines() if ln.strip()]
        except OSError:
            return ""
        wanted = [ln for ln in lines if "FATAL" in ln or "PANIC" in ln] or lines
        return wanted[-1] if wanted else ""

    def stop(self) -> None:
        """Stop the server (fast); idempotent."""
        if self._pg_ctl("status").returncode == 0:
            self._pg_ctl("-m", "fast", "-w", "-t", "120", "stop")

    def remove(self) -> None:
        """Stop the server and delete everything (also after a failure)."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
