"""The non-table objects of a MySQL/MariaDB database, and moving tables between databases.

MySQL cannot rename a database, so a restore swaps *tables*: the triggers of
both databases are dropped (a table with triggers cannot change database),
one atomic ``RENAME TABLE`` moves the target's tables aside and the restored
ones in, and the views, routines, triggers and events are recreated from
their ``SHOW CREATE`` statements, each under the ``sql_mode`` and character
set it was defined with.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pymysql
import pymysql.cursors

from sitesnap.errors import RestoreError
from sitesnap.sources.mysqlsql import MOVABLE, exec_sql, q, scalar, side_name, tables

__all__ = ["swap_tables"]


def swap_tables(admin: pymysql.connections.Connection[Any], name: str, temp: str, *, keep_old: bool) -> str:
    """Move ``temp``'s tables and objects into ``name``; return the kept old database, if any."""
    new = _objects(admin, temp)
    old = _objects(admin, name)
    aside = side_name(name, "old_")
    for trigger, _ in new.triggers:
        exec_sql(admin, f"DROP TRIGGER {q(temp)}.{q(trigger)}")
    for trigger, _ in old.triggers:
        exec_sql(admin, f"DROP TRIGGER {q(name)}.{q(trigger)}")
    try:
        exec_sql(admin, f"CREATE DATABASE {q(aside)}")
        moves = [f"{q(name)}.{q(t)} TO {q(aside)}.{q(t)}" for t in tables(admin, name, MOVABLE)]
        moves += [f"{q(temp)}.{q(t)} TO {q(name)}.{q(t)}" for t in tables(admin, temp, MOVABLE)]
        if moves:
            exec_sql(admin, "RENAME TABLE " + ", ".join(moves))
    except BaseException:
        _recreate(admin, name, old, only_triggers=True)
        exec_sql(admin, f"DROP DATABASE IF EXISTS {q(aside)}")
        raise
    _drop_objects(admin, name, old)
    _recreate(admin, name, new)
    if keep_old:
        _recreate(admin, aside, old)
        return aside
    exec_sql(admin, f"DROP DATABASE {q(aside)}")
    return ""


@dataclass
class _Objects:
    """The non-table objects of a database, as statements to recreate them."""

    views: list[tuple[str, str]] = field(default_factory=list)  # (name, CREATE VIEW)
    routines: list[tuple[str, str, str]] = field(default_factory=list)  # (type, name, ...)
    triggers: list[tuple[str, str]] = field(default_factory=list)
    events: list[tuple[str, str]] = field(default_factory=list)
    modes: dict[str, tuple[str | None, str]] = field(default_factory=dict)  # stmt -> (sql_mode, charset)


def _objects(conn: pymysql.connections.Connection[Any], db: str) -> _Objects:
    """Definitions of ``db``'s objects; ``USE db`` first, so names in it come out unqualified."""
    objs = _Objects()
    exec_sql(conn, f"USE {q(db)}")
    with conn.cursor(pymysql.cursors.DictCursor) as cur:
        cur.execute(
            "SELECT table_name AS n FROM information_schema.views WHERE table_schema = %s ORDER BY 1", (db,)
        )
        for row in cur.fetchall():
            shown = _show(cur, f"SHOW CREATE VIEW {q(db)}.{q(row['n'])}")
            objs.views.append((row["n"], shown["Create View"]))
            objs.modes[shown["Create View"]] = (None, shown["character_set_client"])
        cur.execute(
            "SELECT routine_type AS t, routine_name AS n FROM information_schema.routines "
            "WHERE routine_schema = %s ORDER BY 1, 2",
            (db,),
        )
        for row in cur.fetchall():
            shown = _show(cur, f"SHOW CREATE {row['t']} {q(db)}.{q(row['n'])}")
            text = shown[f"Create {row['t'].title()}"]
            objs.routines.append((row["t"], row["n"], text))
            objs.modes[text] = (shown["sql_mode"], shown["character_set_client"])
        cur.execute(
            "SELECT trigger_name AS n FROM information_schema.triggers WHERE trigger_schema = %s "
            "ORDER BY event_object_table, action_order",
            (db,),
        )
        for row in cur.fetchall():
            shown = _show(cur, f"SHOW CREATE TRIGGER {q(db)}.{q(row['n'])}")
            objs.triggers.append((row["n"], shown["SQL Original Statement"]))
            objs.modes[shown["SQL Original Statement"]] = (shown["sql_mode"], shown["character_set_client"])
        cur.execute("SELECT event_name AS n FROM information_schema.events WHERE event_schema = %s", (db,))
        for row in cur.fetchall():
            shown = _show(cur, f"SHOW CREATE EVENT {q(db)}.{q(row['n'])}")
            objs.events.append((row["n"], shown["Create Event"]))
            objs.modes[shown["Create Event"]] = (shown["sql_mode"], shown["character_set_client"])
    return objs


def _show(cur: Any, query: str) -> dict[str, Any]:
    cur.execute(query)
    row = cur.fetchone()
    if row is None:
        raise RestoreError(f"{query} returned nothing")
    return dict(row)


def _drop_objects(conn: pymysql.connections.Connection[Any], db: str, objs: _Objects) -> None:
    for view, _ in objs.views:
        exec_sql(conn, f"DROP VIEW IF EXISTS {q(db)}.{q(view)}")
    for kind, routine, _ in objs.routines:
        exec_sql(conn, f"DROP {kind} IF EXISTS {q(db)}.{q(routine)}")
    for event, _ in objs.events:
        exec_sql(conn, f"DROP EVENT IF EXISTS {q(db)}.{q(event)}")


def _recreate(
    conn: pymysql.connections.Connection[Any], db: str, objs: _Objects, *, only_triggers: bool = False
) -> None:
    """Create ``objs`` in ``db``: routines, views (in dependency order), triggers, events."""
    exec_sql(conn, f"USE {q(db)}")
    saved_mode = scalar(conn, "SELECT @@SESSION.sql_mode")
    try:
        if not only_triggers:
            for _, _, text in objs.routines:
                _create(conn, text, objs.modes[text])
            pending = [text for _, text in objs.views]
            for _ in range(len(pending) + 1):  # views may use views: retry until all exist
                failed: list[str] = []
                for text in pending:
                    try:
                        _create(conn, text, objs.modes[text])
                    except pymysql.Error:
                        failed.append(text)
                if not failed or len(failed) == len(pending):
                    pending = failed
                    break
                pending = failed
            if pending:
                _create(conn, pending[0], objs.modes[pending[0]])  # raise its error
        for _, text in objs.triggers:
            _create(conn, text, objs.modes[text])
        if not only_triggers:
            for _, text in objs.events:
                _create(conn, text, objs.modes[text])
    finally:
        exec_sql(conn, "SET SESSION sql_mode = %s", (saved_mode,))


def _create(conn: pymysql.connections.Connection[Any], text: str, mode: tuple[str | None, str]) -> None:
    sql_mode, charset = mode
    if sql_mode is not None:
        exec_sql(conn, "SET SESSION sql_mode = %s", (sql_mode,))
    if charset:
        exec_sql(conn, f"SET NAMES {charset}")
    try:
        with conn.cursor() as cur:
            cur.execute(text)
    finally:
        exec_sql(conn, "SET NAMES utf8mb4")
