"""What binlog capture needs from a MariaDB/MySQL server, checked before it starts.

:func:`check_server` reads the server's settings and the capture user's
grants and raises :class:`SourceError` naming exactly what to change when
capture cannot work (``log_bin`` off, ``server_id`` 0, missing replication
privileges); settings that work but weaken the guarantee (``binlog_format``
other than ``ROW``, binlogs that expire sooner than a capture may be down)
come back as warnings.  See docs/mysql-pitr.md.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pymysql

from sitesnap.errors import SourceError

__all__ = ["DEFAULT_DOWNTIME", "Login", "ServerFacts", "binary_logs", "check_server", "connect", "option_file",
           "server_time_ns"]

DEFAULT_DOWNTIME = 86_400  # seconds a capture may be stopped before its binlogs must still be there
_GRANT = re.compile(r"^GRANT (.+?) ON \*\.\* TO", re.IGNORECASE)


@dataclass(frozen=True)
class Login:
    """Where and as whom to connect; the password never goes on a command line."""

    host: str
    port: int
    user: str
    password: str | None

    def client_options(self) -> str:
        """A ``[client]`` option file body for the MariaDB programs."""
        lines = ["[client]", f"host={_opt(self.host)}", f"port={self.port}"]
        if self.user:
            lines.append(f"user={_opt(self.user)}")
        if self.password:
            lines.append(f"password={_opt(self.password)}")
        return "\n".join(lines) + "\n"


@dataclass
class ServerFacts:
    """The settings capture relies on, and what is weaker than it should be."""

    version: str
    server_id: int
    binlog_format: str
    expire_seconds: int  # 0: binlogs never expire
    warnings: list[str] = field(default_factory=list)


@contextmanager
def option_file(login: Login) -> Iterator[str]:
    """A 0600 option file with ``login``, removed afterwards (pass it as ``--defaults-extra-file``)."""
    fd, name = tempfile.mkstemp(prefix="sitesnap-", suffix=".cnf")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(login.client_options())
        yield name
    finally:
        if os.path.exists(name):
            os.unlink(name)


def connect(login: Login, timeout: int = 10) -> pymysql.connections.Connection[Any]:
    try:
        return pymysql.connect(host=login.host, port=login.port, user=login.user or None, password=login.password or "",
                               connect_timeout=timeout, autocommit=True, charset="utf8mb4")
    except pymysql.Error as exc:
        raise SourceError(f"cannot connect to MySQL at {login.host}:{login.port}: {exc.args[-1]}") from exc


def _variables(conn: pymysql.connections.Connection[Any]) -> dict[str, str]:
    with conn.cursor() as cur:
        cur.execute("SHOW GLOBAL VARIABLES WHERE Variable_name IN ('log_bin', 'binlog_format', 'server_id', "
                    "'binlog_expire_logs_seconds', 'expire_logs_days', 'version')")
        return {str(k).lower(): str(v) for k, v in cur.fetchall()}


def _global_privileges(conn: pymysql.connections.Connection[Any]) -> set[str]:
    with conn.cursor() as cur:
        cur.execute("SHOW GRANTS FOR CURRENT_USER()")
        found: set[str] = set()
        for (grant,) in cur.fetchall():
            match = _GRANT.match(str(grant))
            if match:
                found.update(p.strip().upper() for p in match.group(1).split(","))
        return found


def _expiry(values: dict[str, str]) -> int:
    if "binlog_expire_logs_seconds" in values:
        return int(float(values["binlog_expire_logs_seconds"]))
    return int(float(values.get("expire_logs_days", "0")) * 86_400)


def check_server(login: Login, *, downtime: int = DEFAULT_DOWNTIME) -> ServerFacts:
    """The server's binlog settings; SourceError with the exact change when capture cannot work."""
    conn = connect(login)
    try:
        values = _variables(conn)
        privileges = _global_privileges(conn)
    finally:
        conn.close()
    if values.get("log_bin", "OFF").upper() != "ON":
        raise SourceError(f"the server at {login.host}:{login.port} does not write a binary log (log_bin is OFF)",
                          hint="Add 'log_bin = mysql-bin' and 'binlog_format = ROW' to the [mariadbd] section "
                               "and restart the server (docs/mysql-pitr.md).")
    facts = ServerFacts(values.get("version", ""), int(values.get("server_id", "0")),
                        values.get("binlog_format", "").upper(), _expiry(values))
    if facts.server_id == 0:
        raise SourceError("the server has server_id = 0, so it cannot serve its binary log",
                          hint="Set 'server_id = 1' (any unique non-zero number) in [mariadbd] and restart.")
    needed = ("REPLICATION SLAVE", "BINLOG MONITOR") if "mariadb" in facts.version.lower() else (
        "REPLICATION SLAVE", "REPLICATION CLIENT")
    missing = [p for p in needed if p not in privileges and "ALL PRIVILEGES" not in privileges]
    if missing and "mariadb" in facts.version.lower() and "REPLICATION CLIENT" in privileges:
        missing = [p for p in missing if p != "BINLOG MONITOR"]  # the pre-10.5 name, still accepted
    if missing:
        raise SourceError(f"user {login.user!r} lacks the {', '.join(missing)} privilege(s) binlog capture needs",
                          hint=f"GRANT {', '.join(needed)} ON *.* TO '{login.user}'@'<capture host>';")
    if facts.binlog_format != "ROW":
        facts.warnings.append(f"binlog_format is {facts.binlog_format}: a restore to a time replays statements, "
                              "which may not reproduce every row; set binlog_format = ROW")
    if facts.expire_seconds and facts.expire_seconds < downtime:
        facts.warnings.append(f"binlogs expire after {facts.expire_seconds} s: a capture stopped longer than "
                              "that loses its continuity (a gap and a new base); raise binlog_expire_logs_seconds")
    return facts


def binary_logs(login: Login) -> list[str]:
    """The binlog files the server still has, oldest first (``SHOW BINARY LOGS``)."""
    conn = connect(login)
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW BINARY LOGS")
            return [str(row[0]) for row in cur.fetchall()]
    finally:
        conn.close()


def server_time_ns(login: Login) -> int:
    """The server's clock, which stamps the binlog (the capture host's clock may differ)."""
    conn = connect(login)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT UNIX_TIMESTAMP(NOW(6))")
            row = cur.fetchone()
            return int(float(row[0]) * 1_000_000) * 1000 if row else 0
    finally:
        conn.close()


def _opt(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
