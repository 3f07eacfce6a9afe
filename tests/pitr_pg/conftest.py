"""A private PostgreSQL 15 cluster for the PITR tests, made with Debian's binaries and removed afterwards."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

BIN = Path("/usr/lib/postgresql/15/bin")


def _as_postgres(*argv: str) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else list(argv)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgCluster:
    """A running cluster: superuser ``postgres``, trust on 127.0.0.1, replication allowed."""

    root: Path
    port: int

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "postgres") -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(self.url(database), autocommit=True)

    def pg_ctl(self, *args: str) -> None:
        subprocess.run(_as_postgres(str(BIN / "pg_ctl"), "-D", str(self.data), *args), check=True,
                       capture_output=True)

    def create_database(self, name: str) -> None:
        with self.connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')


def _initdb(root: Path, port: int) -> None:
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)
    root.chmod(0o755)
    subprocess.run(_as_postgres(str(BIN / "initdb"), "-D", str(root / "data"), "-U", "postgres", "--auth=trust",
                                "--no-sync"), check=True, capture_output=True)
    settings = [f"port = {port}", "listen_addresses = '127.0.0.1'", f"unix_socket_directories = '{root}'",
                "wal_level = replica", "max_wal_senders = 10", "max_replication_slots = 10",
                "track_commit_timestamp = on", "fsync = off", "shared_buffers = 32MB", "wal_keep_size = 0"]
    with open(root / "data" / "postgresql.conf", "a") as fh:
        fh.write("\n".join(settings) + "\n")


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    if not (BIN / "initdb").exists() or not (BIN / "pg_ctl").exists() or shutil.which("runuser") is None:
        pytest.skip("PostgreSQL 15 server binaries (Debian package postgresql-15) are not installed")
    root = Path(tempfile.mkdtemp(prefix="sitesnap-pitr-cluster-"))
    cluster = PgCluster(root, _free_port())
    try:
        _initdb(root, cluster.port)
        cluster.pg_ctl("-l", str(root / "server.log"), "-w", "-t", "60", "start")
        yield cluster
    finally:
        if (root / "data" / "postmaster.pid").exists():
            cluster.pg_ctl("-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


def wait_for(predicate: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")
