"""Sans-IO scanners that count the rows in a SQL dump as its bytes pass by.

Each scanner is fed the dump in arbitrary blocks (``feed``) and keeps only a
bounded piece of the current line, so memory stays constant for any dump and
any line length.  ``tables`` maps every table whose data the dump contains
(also empty ones) to its row count; ``complete`` is true once the dump's
closing line was seen, so a truncated dump is detected even if the program's
exit status was lost.

* :class:`PgPlainScanner` reads ``pg_dump --format=plain``: each table's data is
  a ``COPY schema.table (...) FROM stdin;`` block after a ``TABLE DATA``
  comment, one row per line (COPY escapes newlines), ended by ``\\.``.
* :class:`MysqlDumpScanner` reads ``mariadb-dump --skip-extended-insert``: one
  ``INSERT INTO `t` VALUES (...);`` line per row (string escaping keeps every
  row on one line); ``CREATE TABLE `t``` registers empty tables; lines inside
  ``DELIMITER ;;`` blocks (trigger, routine and event bodies) are ignored.
"""

from __future__ import annotations

import re

__all__ = ["MysqlDumpScanner", "PgPlainScanner"]

_MAX_LINE_PREFIX = 64 * 1024


class _LineScanner:
    """Splits blocks into lines and hands each line's (bounded) prefix to ``_line``."""

    def __init__(self) -> None:
        self.tables: dict[str, int] = {}
        self.complete = False
        self._partial: bytearray | None = None  # start of an unfinished line

    def feed(self, data: bytes) -> None:
        start = 0
        end = len(data)
        while start < end:
            start = self._fast(data, start)
            if start >= end:
                return
            nl = data.find(b"\n", start)
            if nl < 0:
                self._keep(data[start:])
                return
            if self._partial is not None:
                self._keep(data[start:nl])
                line = bytes(self._partial)
                self._partial = None
            else:
                line = data[start : min(nl, start + _MAX_LINE_PREFIX)]
            self._line(line)
            start = nl + 1

    def _keep(self, piece: bytes) -> None:
        if self._partial is None:
            self._partial = bytearray()
        room = _MAX_LINE_PREFIX - len(self._partial)
        if room > 0:
            self._partial += piece[:room]

    def _fast(self, data: bytes, start: int) -> int:
        """Consume bulk lines quickly from ``start``; return where line-by-line scanning resumes."""
        return start

    def _line(self, line: bytes) -> None:
        raise NotImplementedError


_PG_IDENT = rb'(?:"(?:[^"]|"")+"|[^\s."]+)'
_PG_COPY = re.compile(rb"COPY (" + _PG_IDENT + rb")\.(" + _PG_IDENT + rb") ")
_PG_DATA_COMMENT = re.compile(rb"-- (?:Data for )?Name: .*; Type: TABLE DATA;")
_PG_VERSION = re.compile(rb"-- Dumped from database version (.+)")
_PG_DONE = b"-- PostgreSQL database dump complete"


def _pg_unquote(ident: bytes) -> str:
    text = ident.decode("utf-8", "replace")
    if text.startswith('"'):
        return text[1:-1].replace('""', '"')
    return text


_BACKSLASH_PROBES = 32


def _find_end_of_copy(data: bytes, pos: int) -> int:
    """Where ``\\.\\n`` occurs in ``data`` from ``pos`` (the caller checks it starts a line), or -1.

    COPY text has few backslashes (escapes such as ``\\N``), so looking for
    the backslash alone runs at memchr speed, several times faster than
    searching for the three-byte marker; a block dense with escapes falls
    back to the marker search after a few probes.
    """
    for _ in range(_BACKSLASH_PROBES):
        idx = data.find(b"\\", pos)
        if idx < 0:
            return -1
        if data.startswith(b".\n", idx + 1):
            return idx
        pos = idx + 1
    return data.find(b"\\.\n", pos)


class PgPlainScanner(_LineScanner):
    """Row counts of a plain-format pg_dump; see the module docstring."""

    def __init__(self) -> None:
        super().__init__()
        self.server_version = ""
        self._expect_copy = False
        self._table: str | None = None  # inside this table's COPY data

    def _fast(self, data: bytes, start: int) -> int:
        if self._table is None or self._partial is not None:
            return start
        pos = start
        while True:
            idx = _find_end_of_copy(data, pos)
            if idx < 0:
                last = data.rfind(b"\n", start)
                if last < start:
                    return start  # no complete line: let feed() keep the piece
                self.tables[self._table] += data.count(b"\n", start, last + 1)
                return last + 1
            if idx == start or data[idx - 1] == 0x0A:
                self.tables[self._table] += data.count(b"\n", start, idx)
                self._table = None
                return idx + 3
            pos = idx + 1

    def _line(self, line: bytes) -> None:
        if self._table is not None:
            if line == b"\\.":
                self._table = None
            else:
                self.tables[self._table] += 1
            return
        if line.startswith(b"--"):
            if _PG_DATA_COMMENT.match(line):
                self._expect_copy = True
            elif line.startswith(_PG_DONE):
                self.complete = True
            elif not self.server_version and (m := _PG_VERSION.match(line)):
                self.server_version = m.group(1).decode("utf-8", "replace").strip()
            return
        if self._expect_copy and line.startswith(b"COPY "):
            m = _PG_COPY.match(line)
            if m:
                name = f"{_pg_unquote(m.group(1))}.{_pg_unquote(m.group(2))}"
                self._table = name
                self.tables.setdefault(name, 0)
            self._expect_copy = False


_MY_IDENT = rb"`((?:[^`]|``)+)`"
_MY_INSERT = re.compile(rb"INSERT INTO " + _MY_IDENT + rb" VALUES \(")
_MY_CREATE = re.compile(rb"CREATE TABLE " + _MY_IDENT)
_MY_DONE = b"-- Dump completed"


def _my_unquote(ident: bytes) -> str:
    return ident.decode("utf-8", "replace").replace("``", "`")


class MysqlDumpScanner(_LineScanner):
    """Row counts of a ``mariadb-dump --skip-extended-insert`` dump; see the module docstring."""

    def __init__(self) -> None:
        super().__init__()
        self._delimited = False
        self._insert_prefix = b""  # the INSERT prefix of the table whose rows are streaming
        self._current = ""

    def _fast(self, data: bytes, start: int) -> int:
        """Count a run of ``INSERT INTO `t` VALUES`` lines of the current table with C-speed scans."""
        prefix = self._insert_prefix
        if not prefix or self._partial is not None or not data.startswith(prefix, start):
            return start
        end = data.rfind(b"\n") + 1
        lines = data.count(b"\n", start, end)
        if lines and data.count(b"\n" + prefix, start, end) + 1 == lines:
            # Every complete line left in the block is a row of this table (the usual case:
            # thousands of rows per block), counted by two memchr-speed passes.
            self.tables[self._current] += lines
            return end
        pos = start
        rows = 0
        while data.startswith(prefix, pos):
            nl = data.find(b"\n", pos)
            if nl < 0:
                break
            rows += 1
            pos = nl + 1
        self.tables[self._current] += rows
        return pos

    def _line(self, line: bytes) -> None:
        if self._delimited:
            if line.startswith(b"DELIMITER ;"):
                self._delimited = False
            return
        if line.startswith(b"INSERT INTO "):
            m = _MY_INSERT.match(line)
            if m:
                name = _my_unquote(m.group(1))
                self.tables[name] = self.tables.get(name, 0) + 1
                self._current = name
                self._insert_prefix = m.group(0)
            return
        self._insert_prefix = b""
        if line.startswith(b"CREATE TABLE "):
            m = _MY_CREATE.match(line)
            if m:
                self.tables.setdefault(_my_unquote(m.group(1)), 0)
        elif line.startswith(b"DELIMITER ") and line.strip() != b"DELIMITER ;":
            self._delimited = True
        elif line.startswith(_MY_DONE):
            self.complete = True
