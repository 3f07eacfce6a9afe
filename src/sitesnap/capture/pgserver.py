"""The source PostgreSQL server as continuous capture sees it: prerequisites, slot, positions.

Before a capture streams anything it proves the server can serve it and
names exactly what to change when it cannot: ``wal_level`` (``replica`` or
``logical``), ``max_wal_senders``, the role's ``REPLICATION`` attribute and
a ``replication`` line in ``pg_hba.conf`` (tested by opening a replication
connection).  The replication slot keeps the server from recycling WAL the
capture has not stored yet; its ``restart_lsn`` is what ``pg_receivewal
--synchronous`` reported as flushed to its spool, so the bytes before it
are safe on the capture's disk.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo

from sitesnap.capture.pgwal import parse_lsn
from sitesnap.errors import SourceError

__all__ = ["PgServer", "ServerAddress", "slot_name"]


@dataclass(frozen=True)
class ServerAddress:
    """Where the server is and who to connect as (the password never appears in messages)."""

    host: str
    port: int
    user: str
    password: str
    database: str

    def display(self) -> str:
        return f"postgresql://{self.user + '@' if self.user else ''}{self.host}:{self.port}/{self.database}"

    def conninfo(self, **extra: Any) -> str:
        return make_conninfo("", host=self.host, port=self.port, user=self.user or None,
                             password=self.password or None, dbname=self.database, connect_timeout=10,
                             application_name="sitesnap-capture", **extra)

    def env(self) -> dict[str, str]:
        """libpq environment for the server programs (the password stays off the command line)."""
        env = {"PGHOST": self.host, "PGPORT": str(self.port), "PGCONNECT_TIMEOUT": "10",
               "PGAPPNAME": "sitesnap-capture"}
        if self.user:
            env["PGUSER"] = self.user
        if self.password:
            env["PGPASSWORD"] = self.password
        return env


def slot_name(source: str, repo_id: str) -> str:
    """A slot name of the source and the repository (lower case, digits and underscores, <= 63)."""
    clean = re.sub(r"[^a-z0-9_]", "_", source.lower())[:30]
    return f"sitesnap_{clean}_{repo_id[:12].lower()}"


class PgServer:
    """A plain SQL connection to the source server.  Not thread-safe."""

    def __init__(self, address: ServerAddress) -> None:
        self.address = address
        try:
            self.conn = psycopg.connect(address.conninfo(), autocommit=True)
        except psycopg.Error as exc:
            raise SourceError(f"cannot connect to {address.display()}: {_first_line(exc)}") from None

    def close(self) -> None:
        self.conn.close()

    def _one(self, sql: str, *args: Any) -> Any:
        row = self.conn.execute(sql, args or None).fetchone()
        return None if row is None else row[0]

    @property
    def major(self) -> int:
        return int(self.conn.info.server_version) // 10000

    def wal_segment_size(self) -> int:
        return int(self._one("SELECT setting::bigint * 1 FROM pg_settings WHERE name = 'wal_segment_size'"))

    def system_id(self) -> str:
        return str(self._one("SELECT system_identifier FROM pg_control_system()"))

    def timeline(self) -> int:
        return int(self._one("SELECT timeline_id FROM pg_control_checkpoint()"))

    def check_prerequisites(self) -> None:
        """SourceError naming every setting to change, all at once."""
        problems: list[str] = []
        if str(self._one("SHOW wal_level")) not in ("replica", "logical"):
            problems.append("set wal_level = replica in postgresql.conf and restart the server")
        if int(self._one("SHOW max_wal_senders")) < 2:
            problems.append("set max_wal_senders to at least 2 (one for streaming, one for base backups)")
        if int(self._one("SHOW max_replication_slots")) < 1:
            problems.append("set max_replication_slots to at least 1 and restart the server")
        if not self._one("SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user"):
            problems.append(f"ALTER ROLE {self.address.user or 'the capture role'} REPLICATION")
        if problems:
            raise SourceError(f"{self.address.display()} cannot stream its WAL: " + "; ".join(problems))
        self._check_replication_connection()

    def _check_replication_connection(self) -> None:
        try:
            conn = psycopg.connect(self.address.conninfo(replication="true"), autocommit=True)
        except psycopg.Error as exc:
            raise SourceError(
                f"{self.address.display()} refuses a replication connection: {_first_line(exc)}",
                hint=f"Add to pg_hba.conf: host replication {self.address.user or 'all'} <capture host>/32 "
                     "scram-sha-256, then SELECT pg_reload_conf()") from None
        conn.close()

    def ensure_slot(self, name: str) -> bool:
        """Create the physical slot, reserving WAL now, unless it exists; returns whether it was created."""
        if self._one("SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", name):
            return False
        self._one("SELECT lsn FROM pg_create_physical_replication_slot(%s, true)", name)
        return True

    def wait_slot_free(self, name: str, timeout: float = 30.0) -> None:
        """Wait until no receiver uses the slot (a killed capture's walsender takes a moment to go)."""
        deadline = time.monotonic() + timeout
        while self._one("SELECT active FROM pg_replication_slots WHERE slot_name = %s", name):
            if time.monotonic() > deadline:
                raise SourceError(f"the replication slot {name} is in use by another receiver",
                                  hint="Stop the other capture of this source first.")
            time.sleep(0.2)

    def slot_restart(self, name: str) -> int | None:
        """The slot's restart LSN (flushed by the receiver), or None when the slot is gone."""
        value = self._one("SELECT restart_lsn::text FROM pg_replication_slots WHERE slot_name = %s", name)
        return None if value is None else parse_lsn(str(value))

    def drop_slot(self, name: str) -> None:
        self._one("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                  "WHERE slot_name = %s AND NOT active", name)

    def current_lsn(self) -> int:
        """The WAL written (on a standby: replayed) so far: every base taken before is consistent by it."""
        return parse_lsn(str(self._one("SELECT (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() "
                                       "ELSE pg_current_wal_lsn() END)::text")))

    def now_ns(self) -> int:
        """The server's clock (commit times are the server's, so a base's time must be too)."""
        return int(self._one("SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint")) * 1000

    def switch_wal(self) -> None:
        """Close the current WAL file (so a receiver completes it); used by tests and at base backups."""
        self._one("SELECT pg_switch_wal()::text")


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
