"""Connecting to the catalog database: URL handling and per-dialect settings.

A plain path means an SQLite file.  SQLite gets WAL (readers never wait for
the writer), a busy timeout, and explicit ``BEGIN`` statements so that write
transactions start with ``BEGIN IMMEDIATE`` and never fail half-way when two
writers meet; MySQL and PostgreSQL get pre-ping and recycling for
long-running servers.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from sitesnap.errors import CatalogError

__all__ = ["BEGIN_OPTION", "catalog_url", "create_catalog_engine", "redact_url"]

BEGIN_OPTION = "sitesnap_sqlite_begin"
SQLITE_BUSY_SECONDS = 60.0
DRIVERS = {"postgresql": "postgresql+psycopg", "mysql": "mysql+pymysql",
           "mariadb": "mariadb+pymysql"}


def catalog_url(url_or_path: str | Path) -> URL:
    """Parse a catalog URL; a bare path (or ``sqlite:///path``) is an SQLite file.

    Bare ``postgresql://`` and ``mysql://`` URLs get the drivers sitesnap
    ships with (psycopg 3, PyMySQL).  Raises :class:`CatalogError`.
    """
    text = str(url_or_path)
    if "://" not in text:
        path = Path(text).expanduser()
        return URL.create("sqlite", database=str(path.absolute()))
    try:
        url = make_url(text)
    except ArgumentError as exc:
        raise CatalogError(f"not a database URL: {redact_url(text)}") from exc
    if url.drivername in DRIVERS:
        url = url.set(drivername=DRIVERS[url.drivername])
    return url


def redact_url(url: str | URL) -> str:
    """The URL with any password replaced, safe for logs and the catalog."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparsable URL>"


def create_catalog_engine(url_or_path: str | Path) -> Engine:
    """An engine for the catalog; creates the SQLite file's directory if needed."""
    url = catalog_url(url_or_path)
    try:
        if url.get_backend_name() == "sqlite":
            return _sqlite_engine(url)
        return create_engine(url, pool_pre_ping=True, pool_recycle=3600,
                             json_serializer=_dumps)
    except (NoSuchModuleError, ModuleNotFoundError) as exc:
        raise CatalogError(f"no driver for {url.drivername}",
                           hint="Install sitesnap[db] for PostgreSQL and MySQL.") from exc


def _dumps(value: Any) -> str:
    """JSON with non-ASCII text kept as is, so text search finds Chinese tags."""
    return json.dumps(value, ensure_ascii=False)


def _create_private(path: Path) -> None:
    """Make a new catalog file readable by its owner only (0600, in a new 0700 directory).

    The catalog holds password hashes, session keys and API token hashes.
    SQLite gives its -wal and -shm files the database file's mode.  Existing
    files and directories keep theirs (an operator may share them on purpose).
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _sqlite_engine(url: URL) -> Engine:
    if url.database and url.database != ":memory:":
        _create_private(Path(url.database))
    engine = create_engine(url, json_serializer=_dumps, connect_args={
        "check_same_thread": False, "timeout": SQLITE_BUSY_SECONDS, "isolation_level": None})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_SECONDS * 1000)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get(BEGIN_OPTION, "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine
