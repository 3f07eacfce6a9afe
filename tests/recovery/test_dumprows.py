"""The sans-IO pieces of partial recovery: dump value decoding, dump scanning, the mount's cache and names."""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from sitesnap.engine.mountfile import BlobCache, ContentMap
from sitesnap.engine.mounttree import snapshot_dir_names
from sitesnap.engine.rowdiff import diff_table, summarize_tables
from sitesnap.errors import IntegrityError
from sitesnap.format.snapshot import Snapshot
from sitesnap.sources.dumprows import MysqlDump, PgDump
from sitesnap.sources.sqliterows import SqliteRows
from sitesnap.sources.sqlvalues import mysql_insert_values, pg_copy_values

values = st.lists(st.one_of(st.none(), st.text(), st.integers().map(str)), min_size=1, max_size=6)


def pg_escape(value: str | None) -> str:
    if value is None:
        return "\\N"
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def my_literal(value: str | None) -> str:
    if value is None:
        return "NULL"
    if re.fullmatch(r"-?[0-9]+", value):
        return value
    table = {"\\": "\\\\", "'": "\\'", '"': '\\"', "\n": "\\n", "\r": "\\r", "\x00": "\\0", "\x1a": "\\Z"}
    return "'" + "".join(table.get(ch, ch) for ch in value) + "'"


@given(values)
def test_pg_copy_line_round_trip(row: list[str | None]) -> None:
    line = "\t".join(pg_escape(v) for v in row).encode()
    assert pg_copy_values(line) == row


@given(values)
def test_mysql_insert_row_round_trip(row: list[str | None]) -> None:
    text = ("(" + ",".join(my_literal(v) for v in row) + ")").encode()
    assert mysql_insert_values(text) == row


def test_mysql_hex_and_bits_and_garbage() -> None:
    assert mysql_insert_values(b"(0x00FF,b'101','it''s',-1.5e3)") == ["\\x00ff", "b'101'", "it's", "-1.5e3"]
    for bad in (b"(1,oops)", b"(1,'a'),(2,'b')"):
        try:
            mysql_insert_values(bad)
        except IntegrityError:
            continue
        raise AssertionError(f"{bad!r} must be refused")
    try:
        mysql_insert_values(b"(1,oops)")
    except IntegrityError as exc:
        assert "byte 3" in str(exc)
    else:
        raise AssertionError("a row that is not literals must be refused")


PG_DUMP = b"""--
-- Data for Name: item; Type: TABLE DATA; Schema: public; Owner: postgres
--

COPY public.item (id, "Name") FROM stdin;
%s\\.

--
-- Name: item item_pkey; Type: CONSTRAINT; Schema: public; Owner: postgres
--

ALTER TABLE ONLY public.item
    ADD CONSTRAINT item_pkey PRIMARY KEY (id);
"""


def test_pg_scan_keys_after_data_and_order_free_fingerprint() -> None:
    rows = [b"1\ta\n", b"2\tb\n", b"3\t\\N\n"]
    first = PgDump().scan((PG_DUMP % b"".join(rows)).splitlines(keepends=True))["public.item"]
    again = PgDump().scan((PG_DUMP % b"".join(reversed(rows))).splitlines(keepends=True))["public.item"]
    changed = PgDump().scan((PG_DUMP % b"".join([*rows[:2], b"3\tc\n"])).splitlines(keepends=True))["public.item"]
    assert (first.columns, first.primary_key, first.rows) == (["id", "Name"], ["id"], 3)
    assert first.fingerprint == again.fingerprint != changed.fingerprint
    got = list(PgDump().rows((PG_DUMP % b"".join(rows)).splitlines(keepends=True), {"public.item"}))
    assert [r[2] for r in got] == [["1", "a"], ["2", "b"], ["3", None]]


def test_mysql_scan_skips_trigger_bodies() -> None:
    dump = b"""CREATE TABLE `t` (
  `id` int(11) NOT NULL,
  `v` text,
  PRIMARY KEY (`id`)
) ENGINE=InnoDB;
INSERT INTO `t` VALUES (1,'x');
DELIMITER ;;
INSERT INTO `t` VALUES (9,'inside a trigger');
DELIMITER ;
"""
    table = MysqlDump().scan(dump.splitlines(keepends=True))["t"]
    assert (table.columns, table.primary_key, table.rows) == (["id", "v"], ["id"], 1)


class Blobs:
    """An in-memory content source: three 100-byte chunks."""

    def __init__(self) -> None:
        self.data = {bytes([i]): bytes([i]) * 100 for i in range(3)}
        self.loads = 0

    def blob_location(self, blob_type: int, blob_id: bytes) -> tuple[bytes, int, int, int] | None:
        return (b"pack", 0, 100, 100) if blob_id in self.data else None

    def load_blob(self, blob_type: int, blob_id: bytes) -> bytes:
        self.loads += 1
        return self.data[blob_id]


def test_cache_stays_within_its_bound_and_reads_span_chunks() -> None:
    blobs = Blobs()
    cache = BlobCache(blobs, max_bytes=250)
    content = ContentMap(blobs, [b"\0", b"\1", b"\2"], 300, "f")
    assert content.read(cache, 95, 110) == b"\0" * 5 + b"\1" * 100 + b"\2" * 5
    assert content.read(cache, 290, 100) == b"\2" * 10 and content.read(cache, 300, 10) == b""
    assert cache.size <= 250 and blobs.loads == 3
    content.read(cache, 150, 10)
    assert blobs.loads == 3  # still cached
    try:
        ContentMap(blobs, [b"\0"], 99, "short")
    except IntegrityError as exc:
        assert "99" in str(exc)
    else:
        raise AssertionError("a size that the chunks do not add up to must be refused")


def test_snapshot_directory_names_are_unique() -> None:
    when = datetime(2026, 12, 4, 16, 0, 0, 500, tzinfo=UTC)
    snaps = [Snapshot(time=when, tree=b"\1" * 32, id="aa" * 32), Snapshot(time=when, tree=b"\2" * 32, id="bb" * 32),
             Snapshot(time=datetime(2026, 12, 5, tzinfo=UTC), tree=b"\3" * 32, id="cc" * 32)]
    names = list(snapshot_dir_names(snaps))
    assert names == ["2026-12-04T16:00:00Z-aaaaaaaa", "2026-12-04T16:00:00Z-bbbbbbbb", "2026-12-05T00:00:00Z"]


def test_row_keys_sort_numbers_as_numbers() -> None:
    from sitesnap.engine.rowdiff import _sort_key

    keys: list[tuple[str | None, ...]] = [("10",), ("9",), ("-2",), ("b",), ("\u00b2",), (None,), ("a",)]
    assert sorted(keys, key=_sort_key) == [("-2",), ("9",), ("10",), ("a",), ("b",), ("\u00b2",), (None,)]


def _sqlite(path: Path, statements: list[str]) -> SqliteRows:
    db = sqlite3.connect(path)
    for sql in statements:
        db.execute(sql)
    db.commit()
    db.close()
    return SqliteRows(path)


def test_tables_created_dropped_and_without_key(tmp_path: Path) -> None:
    before = _sqlite(tmp_path / "a.db", [
        "CREATE TABLE log (line TEXT)", "INSERT INTO log VALUES ('x'), ('x'), ('y')",
        "CREATE TABLE old (id INTEGER PRIMARY KEY)", "INSERT INTO old VALUES (1), (2)",
    ])
    after = _sqlite(tmp_path / "b.db", [
        "CREATE TABLE log (line TEXT)", "INSERT INTO log VALUES ('x'), ('y'), ('z')",
        "CREATE TABLE new (id INTEGER PRIMARY KEY)", "INSERT INTO new VALUES (7)",
    ])
    summary = {t.table: (t.added, t.removed, t.changed, t.rows_before, t.rows_after)
               for t in summarize_tables(before, after)}
    assert summary == {"log": (1, 1, 0, 3, 3), "new": (1, 0, 0, 0, 1), "old": (0, 2, 0, 2, 0)}
    rows = diff_table(before, after, "log", 10)
    assert rows.key_columns == ["line"]
    assert [(c.change, c.key) for c in rows.changes] == [("-", {"line": "x"}), ("+", {"line": "z"})]
    assert diff_table(before, after, "new", 10).changes[0].new == {"id": "7"}
