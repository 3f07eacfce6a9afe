"""A private MariaDB server with its binary log on (the shared one has log_bin off), for the whole session."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymysql
import pytest

PROGRAMS = ("mariadbd", "mariadb-install-db", "mariadb-binlog", "mariadb-dump", "mariadb")
USER, PASSWORD = "sitesnap", "s3cret pw"


@dataclass(frozen=True)
class Server:
    port: int
    socket: str

    def url(self, database: str, user: str = USER, password: str = PASSWORD) -> str:
        return f"mysql://{user}:{password.replace(' ', '%20')}@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str | None = None, *, autocommit: bool = True) -> pymysql.connections.Connection[Any]:
        return pymysql.connect(unix_socket=self.socket, user="root", database=database, autocommit=autocommit,
                               charset="utf8mb4")

    def sql(self, *statements: str) -> list[tuple[Any, ...]]:
        conn = self.connect()
        try:
            rows: list[tuple[Any, ...]] = []
            with conn.cursor() as cur:
                for stmt in statements:
                    cur.execute(stmt)
                    rows = list(cur.fetchall())
            return rows
        finally:
            conn.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(sock: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mariadbd exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            pymysql.connect(unix_socket=sock, user="root").close()
            return
        except pymysql.Error:
            time.sleep(0.2)
    raise RuntimeError("mariadbd did not start within 60 s")


@pytest.fixture(scope="session")
def binlog_server() -> Iterator[Server]:
    """mariadbd with --log-bin, ROW format and server id 1 in a temp directory, removed afterwards."""
    missing = [p for p in PROGRAMS if shutil.which(p) is None and not os.path.exists(f"/usr/sbin/{p}")]
    if missing:
        pytest.skip(f"MariaDB server programs missing ({', '.join(missing)}): apt-get install mariadb-server")
    root = Path(tempfile.mkdtemp(prefix="sitesnap-mariadb-"))
    shutil.chown(root, "mysql", "mysql")
    data, sock, log = root / "data", str(root / "sock"), root / "server.log"
    subprocess.run(["mariadb-install-db", "--user=mysql", f"--datadir={data}",
                    "--auth-root-authentication-method=normal", "--skip-test-db"], check=True, capture_output=True)
    mariadbd = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
    port = _free_port()
    with open(log, "wb") as out:
        proc = subprocess.Popen([mariadbd, "--no-defaults", "--user=mysql", f"--datadir={data}", f"--socket={sock}",
                                 f"--port={port}", "--bind-address=127.0.0.1", f"--log-bin={data}/binlog",
                                 "--binlog-format=ROW", "--server-id=1", f"--pid-file={root}/pid",
                                 "--innodb-buffer-pool-size=64M", "--skip-name-resolve"], stdout=out, stderr=out)
    try:
        _wait_ready(sock, proc, log)
        server = Server(port, sock)
        server.sql(f"CREATE USER '{USER}'@'127.0.0.1' IDENTIFIED BY '{PASSWORD}'",
                   f"GRANT ALL PRIVILEGES ON *.* TO '{USER}'@'127.0.0.1'")
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(root, ignore_errors=True)
