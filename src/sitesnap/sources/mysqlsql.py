"""MySQL/MariaDB statements the source shares: quoting, counting, existence, side names.

Every helper takes an open PyMySQL connection in autocommit mode; a failed
statement run through :func:`exec_sql` becomes a :class:`RestoreError` naming it.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

import pymysql

from sitesnap.errors import RestoreError
from sitesnap.sources.privileges import DENIED_CODES, privilege_error

__all__ = ["COUNTED", "MOVABLE", "count_tables", "database_exists", "db_charset", "exec_sql", "q", "scalar",
           "side_name", "tables"]

MOVABLE = ("BASE TABLE", "SEQUENCE", "SYSTEM VERSIONED")
COUNTED = ("BASE TABLE", "SYSTEM VERSIONED")


def q(name: str) -> str:
    """Quote a MySQL identifier."""
    return "`" + name.replace("`", "``") + "`"


def count_tables(conn: pymysql.connections.Connection[Any], db: str) -> dict[str, int]:
    """Exact row count of every base table of ``db``."""
    return {t: int(scalar(conn, f"SELECT COUNT(*) FROM {q(db)}.{q(t)}")) for t in tables(conn, db, COUNTED)}


def tables(conn: pymysql.connections.Connection[Any], db: str, types: Sequence[str]) -> list[str]:
    with conn.cursor() as cur:
        marks = ", ".join(["%s"] * len(types))
        cur.execute(
            f"SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
            f"AND table_type IN ({marks}) ORDER BY 1",
            (db, *types),
        )
        return [str(r[0]) for r in cur.fetchall()]


def database_exists(conn: pymysql.connections.Connection[Any], db: str) -> bool:
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM information_schema.schemata WHERE schema_name = %s", (db,))
        return cur.fetchone() is not None


def db_charset(conn: pymysql.connections.Connection[Any], db: str) -> tuple[str, str] | None:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT default_character_set_name, default_collation_name FROM information_schema.schemata "
            "WHERE schema_name = %s",
            (db,),
        )
        row = cur.fetchone()
        return (str(row[0]), str(row[1])) if row else None


def exec_sql(conn: pymysql.connections.Connection[Any], query: str, args: Any = None) -> None:
    try:
        with conn.cursor() as cur:
            cur.execute(query, args)
    except pymysql.Error as exc:
        what = " ".join(query.split()[:3])
        if exc.args and exc.args[0] in DENIED_CODES:
            raise privilege_error("mysql", "restore", what, str(exc.args[-1])) from exc
        raise RestoreError(f"{what} failed: {exc.args[-1]}") from exc


def scalar(conn: pymysql.connections.Connection[Any], query: str, args: Any = None) -> str:
    with conn.cursor() as cur:
        cur.execute(query, args)
        row = cur.fetchone()
        return str(row[0]) if row else ""


def side_name(database: str, tag: str) -> str:
    """``<db>__sitesnap_<tag><hex>`` within MySQL's 64-character name limit."""
    suffix = f"__sitesnap_{tag}{secrets.token_hex(4)}"
    return database[: 64 - len(suffix)] + suffix
