"""The rows of the plain-SQL dumps in a snapshot, read as a stream, for row-level diffs.

Where :mod:`sitesnap.sources.dumpscan` only counts rows while a dump is
written, this module reads a stored dump back table by table: its columns,
its primary key and its rows as values.  Two passes over a dump, each
streaming and holding one row at a time:

* :meth:`DumpDialect.scan` learns every table's columns, primary key, row
  count and a *fingerprint* (the sum of the rows' digests, so it does not
  depend on row order).  Two snapshots' tables with equal fingerprints hold
  the same rows, and the diff never looks at them again.  PostgreSQL names
  its primary keys only after the data (``ALTER TABLE ... ADD CONSTRAINT ...
  PRIMARY KEY``), which is why the keys need this first pass.
* :meth:`DumpDialect.rows` yields ``(table, raw row, values)`` for the tables asked for.

Dialects: :class:`PgDump` (``pg_dump --format=plain``: ``COPY ... FROM
stdin`` blocks after a ``TABLE DATA`` comment) and :class:`MysqlDump`
(``mariadb-dump --skip-extended-insert --hex-blob``: one ``INSERT`` line per
row, keys from ``PRIMARY KEY (`` in ``CREATE TABLE``).  ``DIALECTS`` maps a
source type to its dialect.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol

from sitesnap.sources.sqlvalues import Value, mysql_insert_values, pg_copy_values

__all__ = ["DIALECTS", "DumpDialect", "DumpRows", "MysqlDump", "PgDump", "Row", "RowReader", "TableInfo", "row_digest"]

Row = tuple[str, bytes, list[Value]]  # table, the row as dumped, its values
_MAX_STATEMENT = 1 << 20


def row_digest(raw: bytes) -> int:
    """A 64-bit keyed hash (SipHash) of a dumped row: equal rows, equal digests, within one process.

    Both snapshots are read by the same process, so the per-process key does
    not matter, and being keyed, it cannot be steered into collisions by the
    rows' contents.
    """
    return hash(raw)


@dataclass
class TableInfo:
    """What one pass learns about a table: columns, primary key, row count, order-free fingerprint.

    The fingerprint is the exact sum of the rows' digests, so it does not depend on row order.
    """

    name: str
    columns: list[str] = field(default_factory=list)
    primary_key: list[str] = field(default_factory=list)
    rows: int = 0
    fingerprint: int = 0

    def add_row(self, raw: bytes) -> None:
        self.rows += 1
        self.fingerprint += hash(raw)  # row_digest, inlined: this runs once per row of the dump


class DumpDialect(Protocol):
    def scan(self, lines: Iterable[bytes]) -> dict[str, TableInfo]: ...

    def rows(self, lines: Iterable[bytes], only: set[str]) -> Iterator[Row]: ...


def _chomp(line: bytes) -> bytes:
    return line[:-1] if line.endswith(b"\n") else line


def _split_idents(text: bytes, unquote: type[_Quoting]) -> list[str]:
    return [unquote.name(part.strip()) for part in text.split(b",") if part.strip()]


class _Quoting:
    quote = b'"'

    @classmethod
    def name(cls, ident: bytes) -> str:
        q = cls.quote
        if ident.startswith(q) and ident.endswith(q) and len(ident) >= 2:
            return ident[1:-1].replace(q + q, q).decode("utf-8", "replace")
        return ident.decode("utf-8", "replace")


class _Backticks(_Quoting):
    quote = b"`"


_PG_IDENT = rb'(?:"(?:[^"]|"")+"|[^\s."(),;]+)'
_PG_COPY = re.compile(rb"COPY (" + _PG_IDENT + rb")\.(" + _PG_IDENT + rb") \((.*)\) FROM stdin;$")
_PG_DATA_COMMENT = re.compile(rb"-- (?:Data for )?Name: .*; Type: TABLE DATA;")
_PG_ALTER_PK = re.compile(rb"ALTER TABLE (?:ONLY )?(" + _PG_IDENT + rb")\.(" + _PG_IDENT
                          + rb")\s+ADD CONSTRAINT " + _PG_IDENT + rb" PRIMARY KEY \(([^)]*)\)")
_PG_CREATE = re.compile(rb"CREATE (?:UNLOGGED )?TABLE (" + _PG_IDENT + rb")\.(" + _PG_IDENT + rb") \(")
_INLINE_PK = re.compile(rb"PRIMARY KEY \(([^)]*)\)")


class PgDump:
    """Tables and rows of a plain-format pg_dump; table names are ``schema.table``."""

    @staticmethod
    def _copy(line: bytes) -> tuple[str, list[str]] | None:
        m = _PG_COPY.match(line)
        if m is None:
            return None
        return f"{_Quoting.name(m.group(1))}.{_Quoting.name(m.group(2))}", _split_idents(m.group(3), _Quoting)

    def scan(self, lines: Iterable[bytes]) -> dict[str, TableInfo]:
        tables: dict[str, TableInfo] = {}
        current: TableInfo | None = None
        expect_copy = False
        statement = bytearray()
        for raw_line in lines:
            if current is not None:  # the bulk of a dump: one row per line
                if raw_line in (b"\\.\n", b"\\."):
                    current = None
                else:
                    current.add_row(raw_line)
                continue
            line = _chomp(raw_line)
            if not statement and (not line or line.startswith((b"--", b"\\"))):
                expect_copy = expect_copy or bool(_PG_DATA_COMMENT.match(line))
                continue
            if expect_copy and not statement and (copy := self._copy(line)):
                current = tables.setdefault(copy[0], TableInfo(copy[0]))
                current.columns = copy[1]
                expect_copy = False
                continue
            expect_copy = False
            if len(statement) < _MAX_STATEMENT:
                statement += line.strip() + b" "
            if line.rstrip().endswith(b";"):
                self._statement(bytes(statement), tables)
                statement.clear()
        return tables

    @staticmethod
    def _statement(text: bytes, tables: dict[str, TableInfo]) -> None:
        if (m := _PG_ALTER_PK.match(text)) is not None:
            name = f"{_Quoting.name(m.group(1))}.{_Quoting.name(m.group(2))}"
            tables.setdefault(name, TableInfo(name)).primary_key = _split_idents(m.group(3), _Quoting)
        elif (m := _PG_CREATE.match(text)) is not None:
            name = f"{_Quoting.name(m.group(1))}.{_Quoting.name(m.group(2))}"
            info = tables.setdefault(name, TableInfo(name))
            if (pk := _INLINE_PK.search(text)) is not None:
                info.primary_key = _split_idents(pk.group(1), _Quoting)

    def rows(self, lines: Iterable[bytes], only: set[str]) -> Iterator[Row]:
        current: str | None = None
        expect_copy = False
        for raw_line in lines:
            line = _chomp(raw_line)
            if current is not None:
                if line == b"\\.":
                    current = None
                elif current in only:
                    yield current, line, pg_copy_values(line)
            elif not line or line.startswith((b"--", b"\\")):
                expect_copy = expect_copy or bool(_PG_DATA_COMMENT.match(line))
            elif expect_copy and (copy := self._copy(line)):
                current, expect_copy = copy[0], False
            else:
                expect_copy = False


_MY_IDENT = rb"`((?:[^`]|``)+)`"
_MY_INSERT = re.compile(rb"INSERT INTO " + _MY_IDENT + rb" VALUES ")
_MY_CREATE = re.compile(rb"CREATE TABLE " + _MY_IDENT + rb" \(")
_MY_COLUMN = re.compile(rb"\s+" + _MY_IDENT + rb" ")
_MY_PK = re.compile(rb"\s+PRIMARY KEY \(([^)]*)\)")


def _my_name(ident: bytes) -> str:
    return ident.decode("utf-8", "replace").replace("``", "`")


class MysqlDump:
    """Tables and rows of a ``mariadb-dump --skip-extended-insert`` dump."""

    @staticmethod
    def _insert(line: bytes) -> tuple[str, bytes] | None:
        m = _MY_INSERT.match(line)
        if m is None:
            return None
        row = line[m.end():]
        return _my_name(m.group(1)), row[:-1] if row.endswith(b";") else row

    def scan(self, lines: Iterable[bytes]) -> dict[str, TableInfo]:
        tables: dict[str, TableInfo] = {}
        creating: TableInfo | None = None
        delimited = False
        for raw_line in lines:
            line = _chomp(raw_line)
            if delimited:
                delimited = not line.startswith(b"DELIMITER ;")
            elif line.startswith(b"INSERT INTO ") and (row := self._insert(line)):
                tables.setdefault(row[0], TableInfo(row[0])).add_row(row[1])
            elif creating is not None:
                if line.startswith(b")"):
                    creating = None
                elif (col := _MY_COLUMN.match(line)) is not None:
                    creating.columns.append(_my_name(col.group(1)))
                elif (pk := _MY_PK.match(line)) is not None:
                    creating.primary_key = _split_idents(pk.group(1), _Backticks)
            elif (m := _MY_CREATE.match(line)) is not None:
                name = _my_name(m.group(1))
                creating = tables[name] = TableInfo(name)
            elif line.startswith(b"DELIMITER ") and line.strip() != b"DELIMITER ;":
                delimited = True
        return tables

    def rows(self, lines: Iterable[bytes], only: set[str]) -> Iterator[Row]:
        for raw_line in lines:
            line = _chomp(raw_line)
            if line.startswith(b"INSERT INTO ") and (row := self._insert(line)) and row[0] in only:
                yield row[0], row[1], mysql_insert_values(row[1], f"table {row[0]}")


DIALECTS: dict[str, DumpDialect] = {"postgres": PgDump(), "mysql": MysqlDump()}


class RowReader(Protocol):
    """A stored database copy as tables and rows, for a row diff; each ``rows`` call is one pass."""

    def scan(self) -> dict[str, TableInfo]: ...

    def rows(self, only: set[str]) -> Iterator[Row]: ...


class DumpRows:
    """A stored dump as a :class:`RowReader`: every pass opens the stored copy again and streams it."""

    def __init__(self, dialect: DumpDialect, open_copy: Callable[[], BinaryIO]) -> None:
        self._dialect = dialect
        self._open = open_copy
        self._tables: dict[str, TableInfo] | None = None

    def scan(self) -> dict[str, TableInfo]:
        if self._tables is None:
            with self._open() as stream:
                self._tables = self._dialect.scan(stream)
        return self._tables

    def rows(self, only: set[str]) -> Iterator[Row]:
        if not only:
            return
        with self._open() as stream:
            yield from self._dialect.rows(stream, only)
