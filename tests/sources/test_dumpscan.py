"""The dump scanners count the same rows however the stream is cut into blocks."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from sitesnap.sources.dumpscan import MysqlDumpScanner, PgPlainScanner

PG = (
    b"-- Dumped from database version 15.2\n"
    b"CREATE FUNCTION f() RETURNS int AS $$\nCOPY public.fake (x) FROM stdin;\n$$;\n"
    b"--\n-- Data for Name: t; Type: TABLE DATA; Schema: public; Owner: postgres\n--\n\n"
    b"COPY public.t (a, b) FROM stdin;\n1\tx\\\\.\n2\t\\\\.\n3\t" + b"y" * 5000 + b"\n\\.\n\n"
    b"--\n-- Data for Name: W; Type: TABLE DATA; Schema: s; Owner: postgres\n--\n\n"
    b'COPY s."W ""x""" (a) FROM stdin;\n\\.\n\n'
    b"--\n-- PostgreSQL database dump complete\n--\n"
)
MY = (
    b"CREATE TABLE `t` (\n  `a` int\n);\n"
    b"INSERT INTO `t` VALUES (1,'a\\'\\n),(');\n"
    b"INSERT INTO `t` VALUES (2,'" + b"z" * 5000 + b"');\n"
    b"CREATE TABLE `e``q` (\n  `a` int\n);\n"
    b"DELIMITER ;;\n/*!50003 trigger x after insert on t for each row begin\n"
    b"INSERT INTO `t` VALUES (9);\nend */;;\nDELIMITER ;\n"
    b"INSERT INTO `t` VALUES (3,NULL);\n"
    b"-- Dump completed\n"
)


def _feed(scanner: PgPlainScanner | MysqlDumpScanner, data: bytes, cuts: list[int]) -> None:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    for start, end in itertools.pairwise(points):
        scanner.feed(data[start:end])


@settings(max_examples=300)
@given(st.lists(st.integers(min_value=0, max_value=10**6), max_size=40))
def test_pg_counts_do_not_depend_on_block_boundaries(cuts: list[int]) -> None:
    scanner = PgPlainScanner()
    _feed(scanner, PG, cuts)
    assert scanner.tables == {"public.t": 3, 's.W "x"': 0}
    assert scanner.complete and scanner.server_version == "15.2"


@settings(max_examples=300)
@given(st.lists(st.integers(min_value=0, max_value=10**6), max_size=40))
def test_mysql_counts_do_not_depend_on_block_boundaries(cuts: list[int]) -> None:
    scanner = MysqlDumpScanner()
    _feed(scanner, MY, cuts)
    assert scanner.tables == {"t": 3, "e`q": 0}
    assert scanner.complete


def test_byte_by_byte_and_truncated() -> None:
    scanner = PgPlainScanner()
    for i in range(len(PG)):
        scanner.feed(PG[i : i + 1])
    assert scanner.tables["public.t"] == 3
    cut = PgPlainScanner()
    cut.feed(PG[: PG.index(b"\\.\n\n")])
    assert not cut.complete


_FIELD = st.sampled_from([b"\\N", b"\\\\.", b"a\\tb", b"x", b"\\\\", b"3.14", b"\\.x", b"end\\\\"])


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.lists(_FIELD, min_size=1, max_size=40), max_size=300),
       cuts=st.lists(st.integers(min_value=0, max_value=10**6), max_size=30))
def test_pg_counts_rows_full_of_escapes(rows: list[list[bytes]], cuts: list[int]) -> None:
    """Rows dense with backslashes (NULLs, escaped backslashes, ``\\\\.`` in data) count exactly."""
    body = b"".join(b"\t".join(r) + b"\n" for r in rows)
    dump = (b"--\n-- Data for Name: t; Type: TABLE DATA; Schema: public; Owner: postgres\n--\n\n"
            b"COPY public.t (a) FROM stdin;\n" + body + b"\\.\n\n"
            b"--\n-- PostgreSQL database dump complete\n--\n")
    scanner = PgPlainScanner()
    _feed(scanner, dump, cuts)
    assert scanner.tables == {"public.t": len(rows)}
    assert scanner.complete


@settings(max_examples=200)
@given(segments=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 400), st.booleans()), max_size=12),
       cuts=st.lists(st.integers(min_value=0, max_value=10**6), max_size=30))
def test_mysql_runs_of_rows_and_table_switches(segments: list[tuple[int, int, bool]], cuts: list[int]) -> None:
    """Long runs of one table's rows (counted a block at a time), switches between tables, other lines."""
    parts = [b"CREATE TABLE `t%d` (\n  `a` int\n);\n" % i for i in range(4)]
    want = {f"t{i}": 0 for i in range(4)}
    for table, rows, separated in segments:
        if separated:
            parts.append(b"/*!40000 ALTER TABLE `t%d` DISABLE KEYS */;\n" % table)
        parts += [b"INSERT INTO `t%d` VALUES (%d,'r\\n%d');\n" % (table, r, r) for r in range(rows)]
        want[f"t{table}"] += rows
    parts.append(b"-- Dump completed\n")
    scanner = MysqlDumpScanner()
    _feed(scanner, b"".join(parts), cuts)
    assert scanner.tables == want
    assert scanner.complete
