"""The tables and rows of a SQLite database file, in the shape :mod:`sitesnap.sources.dumprows` gives dumps.

The file is a copy restored from a snapshot, opened read-only.  A row's
raw form (what its digest is taken of) is the ``repr`` of its Python values,
so ``1`` and ``'1'`` differ as they do in SQLite; values are shown as text,
BLOBs as ``\\x`` and hex.  The primary key comes from ``PRAGMA table_info``;
a table without one is compared as a multiset of whole rows.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

from sitesnap.errors import SourceError
from sitesnap.sources.dumprows import Row, TableInfo
from sitesnap.sources.sqlvalues import Value

__all__ = ["SqliteRows"]


def _text(value: object) -> Value:
    if value is None:
        return None
    if isinstance(value, bytes):
        return "\\x" + value.hex()
    return str(value)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class SqliteRows:
    """Reads one SQLite file; each call opens its own read-only connection."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._tables: dict[str, TableInfo] | None = None

    def _connect(self) -> sqlite3.Connection:
        try:
            return sqlite3.connect(f"{self.path.as_uri()}?mode=ro", uri=True)
        except sqlite3.Error as exc:
            raise SourceError(f"{self.path.name}: {exc}") from None

    def _schema(self, db: sqlite3.Connection) -> dict[str, TableInfo]:
        tables: dict[str, TableInfo] = {}
        names = db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
                           "ORDER BY name").fetchall()
        for (name,) in names:
            info = db.execute(f"PRAGMA table_info({_quote(name)})").fetchall()
            table = TableInfo(name, columns=[str(col[1]) for col in info])
            table.primary_key = [str(col[1]) for col in sorted((c for c in info if c[5]), key=lambda c: c[5])]
            tables[name] = table
        return tables

    def _each_row(self, db: sqlite3.Connection, name: str) -> Iterator[tuple[bytes, tuple[object, ...]]]:
        for row in db.execute(f"SELECT * FROM {_quote(name)}"):
            yield repr(tuple(row)).encode("utf-8", "backslashreplace"), tuple(row)

    def scan(self) -> dict[str, TableInfo]:
        """Every table with its columns, primary key, row count and fingerprint (read once, then kept)."""
        if self._tables is not None:
            return self._tables
        try:
            with closing(self._connect()) as db:
                tables = self._schema(db)
                for name, table in tables.items():
                    for raw, _values in self._each_row(db, name):
                        table.add_row(raw)
        except sqlite3.Error as exc:
            raise SourceError(f"{self.path.name}: {exc}") from None
        self._tables = tables
        return tables

    def rows(self, only: set[str]) -> Iterator[Row]:
        """``(table, raw, values)`` of every row of the tables in ``only``."""
        try:
            with closing(self._connect()) as db:
                for name in sorted(only):
                    for raw, values in self._each_row(db, name):
                        yield name, raw, [_text(v) for v in values]
        except sqlite3.Error as exc:
            raise SourceError(f"{self.path.name}: {exc}") from None
