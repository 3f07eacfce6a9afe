"""Bringing a catalog database to the newest schema, safely under concurrency.

:func:`upgrade` is idempotent and may run in several processes at once (a web
server, a scheduler and workers starting together on a fresh catalog): the
first takes a database-level lock (SQLite ``BEGIN EXCLUSIVE``, a PostgreSQL
advisory lock, MySQL ``GET_LOCK``), migrates, and the others find the schema
current once they get the lock.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import JSON, Engine, text
from sqlalchemy.dialects.mysql import LONGTEXT
from sqlalchemy.engine import Connection

from sitesnap.catalog.database import BEGIN_OPTION
from sitesnap.errors import CatalogError

__all__ = ["MIGRATIONS", "alembic_config", "compare_type", "current_revision",
           "head_revision", "upgrade"]

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
LOCK_NAME = "sitesnap-catalog-migrate"
LOCK_WAIT_SECONDS = 120


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config for the bundled migrations, optionally bound to ``connection``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the catalog has no migrations"
    return head


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at; None for an empty database."""
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine) -> None:
    """Migrate the catalog to the head revision; a no-op when it is already there."""
    head = head_revision()
    with engine.connect() as conn:
        if current_revision(conn) == head:
            return
    with _migration_lock(engine) as conn:
        if current_revision(conn) != head:
            command.upgrade(alembic_config(conn), "head")
        conn.commit()


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[Connection]:
    dialect = engine.dialect.name
    with engine.connect() as conn:
        if dialect == "sqlite":
            # The first statement opens the transaction with BEGIN EXCLUSIVE.
            yield conn.execution_options(**{BEGIN_OPTION: "EXCLUSIVE"})
        elif dialect == "postgresql":
            key = zlib.crc32(LOCK_NAME.encode())
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
            try:
                yield conn
            finally:
                conn.rollback()
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()
        elif dialect in ("mysql", "mariadb"):
            name = f"{LOCK_NAME}-{engine.url.database}"[:64]
            got = conn.execute(text("SELECT GET_LOCK(:n, :t)"),
                               {"n": name, "t": LOCK_WAIT_SECONDS}).scalar()
            if got != 1:
                raise CatalogError("timed out waiting for another process to migrate the catalog")
            try:
                yield conn
            finally:
                conn.rollback()
                conn.execute(text("SELECT RELEASE_LOCK(:n)"), {"n": name})
                conn.commit()
        else:
            raise CatalogError(f"unsupported catalog database {dialect}",
                               hint="Use SQLite, PostgreSQL, MySQL or MariaDB.")


def compare_type(context: Any, inspected_column: Any, metadata_column: Any,
                 inspected_type: Any, metadata_type: Any) -> bool | None:
    """Alembic type comparison that knows MariaDB stores JSON as LONGTEXT."""
    mariadb = getattr(context.dialect, "is_mariadb", False)
    if mariadb and isinstance(metadata_type, JSON) and isinstance(inspected_type, LONGTEXT):
        return False
    return None
