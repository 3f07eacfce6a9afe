"""PostgreSQL source against the real server on 127.0.0.1:5432."""

from __future__ import annotations

import hashlib
import io
import os
import re
import stat
import threading
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from sitesnap.errors import MissingTool, RestoreError, SourceError
from sitesnap.sources.db import DumpInfo, open_database_source
from sitesnap.sources.postgres import PostgresSource, pick_client

from .bank import Bank, check_invariant
from .conftest import PG_ADMIN, pg_connect, pg_databases, pg_url

SCHEMA = r'''
CREATE SCHEMA shop;
CREATE TABLE posts (id serial PRIMARY KEY, title text NOT NULL, body bytea, tags text[]);
CREATE TABLE "Weird ""Name""" (x int);
CREATE TABLE shop.items (id int PRIMARY KEY, price numeric(10,2));
CREATE TABLE empty_table (x int);
CREATE TABLE audit (n int);
CREATE VIEW recent AS SELECT id, title FROM posts WHERE id > 5;
CREATE FUNCTION log_post() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO public.audit VALUES (NEW.id); RETURN NEW; END $$;
CREATE TRIGGER posts_audit AFTER INSERT ON posts FOR EACH ROW EXECUTE FUNCTION log_post();
INSERT INTO posts (title, body, tags)
  SELECT 'post ' || i || E'\ttab\nnewline\\back\\.', decode(repeat('00ff', i), 'hex'), ARRAY['a', 'b"c']
  FROM generate_series(1, 300) i;
INSERT INTO "Weird ""Name""" VALUES (1), (2);
INSERT INTO shop.items SELECT i, i * 1.5 FROM generate_series(1, 50) i;
'''
EXPECTED = {
    "public.posts": 300,
    'public.Weird "Name"': 2,
    "shop.items": 50,
    "public.empty_table": 0,
    "public.audit": 300,
}


def _fill(db: str, script: str = SCHEMA) -> None:
    with pg_connect(db, autocommit=True) as conn:
        conn.execute(script)  # type: ignore[arg-type]


def _dump(source: PostgresSource) -> tuple[bytes, DumpInfo]:
    with source.dump() as (stream, future):
        chunks = []
        while block := stream.read(65536):
            chunks.append(block)
    return b"".join(chunks), future.result()


def test_round_trip_in_place_and_to_another_database(pg_db: Callable[..., str]) -> None:
    db = pg_db()
    _fill(db)
    source = open_database_source("postgres", url=pg_url(db))
    assert isinstance(source, PostgresSource)
    data, info = _dump(source)
    assert info.tables == EXPECTED
    assert info.kind == "postgres" and info.format == "pg-plain-sql" and info.database == db
    assert info.server_version.startswith("15.") and info.tool == "pg_dump"
    assert DumpInfo.from_dict(info.to_dict()) == info
    assert source.inspect().tables == EXPECTED

    other = pg_db(create=False)
    assert not source.inspect(pg_url(other)).exists
    report = source.restore(io.BytesIO(data), info, pg_url(other))
    assert report.created and report.tables == EXPECTED
    assert source.inspect(pg_url(other)).tables == EXPECTED

    with pg_connect(db, autocommit=True) as conn:
        conn.execute("DELETE FROM posts WHERE id > 3; DROP TABLE shop.items; CREATE TABLE junk (y int)")
    site = pg_connect(db, autocommit=True)  # a session the swap must end
    report = source.restore(io.BytesIO(data), info)
    assert report.method == "swap" and not report.created
    assert source.inspect().tables == EXPECTED
    assert site.closed or _is_dead(site)
    with pg_connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM recent").fetchone() == (295,)
        conn.execute("INSERT INTO posts (title) VALUES ('trigger still there')")
        assert conn.execute("SELECT count(*) FROM audit").fetchone() == (301,)
        title = conn.execute("SELECT title, tags FROM posts WHERE id = 7").fetchone()
        assert title == ("post 7\ttab\nnewline\\back\\.", ["a", 'b"c'])
    assert pg_databases(db) == [db]  # no temp or old copy left behind


def _is_dead(conn: psycopg.Connection[object]) -> bool:
    try:
        conn.execute("SELECT 1")
    except psycopg.OperationalError:
        return True
    return False


def test_keep_old_keeps_the_previous_database_aside(pg_db: Callable[..., str]) -> None:
    db = pg_db()
    _fill(db, "CREATE TABLE t (x int); INSERT INTO t VALUES (1), (2);")
    source = PostgresSource(pg_url(db), keep_old=True)
    data, info = _dump(source)
    with pg_connect(db, autocommit=True) as conn:
        conn.execute("INSERT INTO t VALUES (3)")
    report = source.restore(io.BytesIO(data), info)
    assert report.kept_old.startswith(f"{db}__sitesnap_old_")
    assert source.inspect(pg_url(report.kept_old)).tables == {"public.t": 3}
    assert source.inspect().tables == {"public.t": 2}


def test_two_dumps_of_unchanged_database_are_byte_identical(pg_db: Callable[..., str]) -> None:
    db = pg_db()
    _fill(db)
    source = PostgresSource(pg_url(db))
    first, _ = _dump(source)
    second, _ = _dump(source)
    assert len(first) > 10_000
    assert hashlib.sha256(first).digest() == hashlib.sha256(second).digest()


def test_consistent_while_four_writers_transfer_money(pg_db: Callable[..., str]) -> None:
    db = pg_db()
    bank = Bank(lambda: pg_connect(db), "%s", begin="")
    with pg_connect(db) as conn:
        bank.create(conn, serial="bigserial PRIMARY KEY")
    source = PostgresSource(pg_url(db))
    bank.start(4)
    try:
        for _ in range(3):
            bank.wait_for_commits(100)
            data, info = _dump(source)
            copy = pg_url(source.url.database + "_copy")
            try:
                source.restore(io.BytesIO(data), info, copy)
                with psycopg.connect(copy) as conn:
                    assert check_invariant(conn) == info.tables["public.transfers"]
            finally:
                _drop(source.url.database + "_copy")
    finally:
        bank.finish()
    assert bank.commits >= 300


def _drop(name: str) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]


def test_connection_errors_are_one_clear_line(pg_db: Callable[..., str]) -> None:
    db = pg_db()
    cases = {
        "postgresql://postgres@127.0.0.1:1/x": "cannot connect to PostgreSQL at 127.0.0.1:1",
        f"postgresql://no_such_role_x@127.0.0.1:5432/{db}": (
            'authentication failed on PostgreSQL at 127.0.0.1:5432: role "no_such_role_x"'
        ),
        "postgresql://postgres@127.0.0.1:5432/no_such_db_sitesnap": "database 'no_such_db_sitesnap' does not exist",
    }
    for url, expected in cases.items():
        with pytest.raises(SourceError) as err, PostgresSource(url).dump():
            pass
        assert expected in err.value.message
        assert "\n" not in err.value.message


def test_missing_client_names_the_package(pg_db: Callable[..., str], tmp_path: Path) -> None:
    db = pg_db()
    source = PostgresSource(pg_url(db), bin_dirs=[str(tmp_path)])
    with pytest.raises(MissingTool) as err, source.dump():
        pass
    assert "pg_dump is not installed" in err.value.message
    assert "postgresql-client-15" in err.value.hint


def test_client_older_than_server_is_refused(pg_db: Callable[..., str], tmp_path: Path) -> None:
    db = pg_db()
    old = tmp_path / "pg_dump"
    old.write_text("#!/bin/sh\necho 'pg_dump (PostgreSQL) 13.4'\n")
    old.chmod(old.stat().st_mode | stat.S_IEXEC)
    source = PostgresSource(pg_url(db), bin_dirs=[str(tmp_path)])
    with pytest.raises(MissingTool) as err, source.dump():
        pass
    assert "13.4 is older than the PostgreSQL 15 server" in err.value.message
    assert "apt-get install postgresql-client-15" in err.value.hint


def test_pick_client_prefers_same_major_then_newer() -> None:
    cands = [("/a/pg_dump", (13, 4)), ("/b/pg_dump", (16, 1)), ("/c/pg_dump", (15, 2))]
    assert pick_client(cands, 15, "pg_dump") == "/c/pg_dump"
    assert pick_client(cands, 14, "pg_dump") == "/c/pg_dump"
    with pytest.raises(MissingTool, match=r"16\.1 is older"):
        pick_client(cands, 17, "pg_dump")


def test_backend_killed_mid_dump_fails_the_dump(pg_db: Callable[..., str]) -> None:
    db = pg_db()
    _fill(db, "CREATE TABLE big AS SELECT i, repeat('x', 200) AS pad FROM generate_series(1, 200000) i;")
    source = PostgresSource(pg_url(db))
    with pytest.raises(SourceError) as err, source.dump() as (stream, future):
        assert stream.read(65536)
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            killed = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND application_name LIKE 'sitesnap-dump-%%'",
                (db,),
            ).fetchall()
        assert killed == [(True,)]
        while stream.read(65536):
            pass
    # libpq words a killed backend either way, depending on when pg_dump notices
    message = err.value.message
    assert "pg_dump" in message
    assert "terminat" in message or "closed the connection" in message, message
    assert not future.done()


def test_stream_not_read_to_the_end_is_an_error(pg_db: Callable[..., str]) -> None:
    db = pg_db()
    _fill(db, "CREATE TABLE big AS SELECT i FROM generate_series(1, 100000) i;")
    with pytest.raises(SourceError, match="not read to the end"), PostgresSource(pg_url(db)).dump() as (s, _):
        s.read(100)


def test_failed_restore_leaves_target_untouched(pg_db: Callable[..., str]) -> None:
    db = pg_db()
    _fill(db)
    source = PostgresSource(pg_url(db))
    data, info = _dump(source)
    with pg_connect(db, autocommit=True) as conn:
        conn.execute("DELETE FROM shop.items WHERE id > 10")
    changed = {**EXPECTED, "shop.items": 10}

    wrong = DumpInfo(**{**info.to_dict(), "tables": {**EXPECTED, "public.posts": 299}})
    with pytest.raises(RestoreError, match=r"public.posts: 300 != 299"):
        source.restore(io.BytesIO(data), wrong)
    cut = data[: data.index(b"COPY shop.items") + 40]
    with pytest.raises(RestoreError, match="incomplete"):
        source.restore(io.BytesIO(cut), info)
    broken = data.replace(b"CREATE TABLE shop.items", b"CREATE TABLE shop.items items", 1)
    with pytest.raises(RestoreError, match=r"loading the dump .* failed: .*syntax error"):
        source.restore(io.BytesIO(broken), info)
    with pytest.raises(RestoreError, match="cannot be restored"):
        source.restore(io.BytesIO(data), DumpInfo(**{**info.to_dict(), "kind": "mysql"}))
    assert source.inspect().tables == changed
    assert pg_databases(db) == [db]


def test_restore_reports_progress(pg_db: Callable[..., str]) -> None:
    db = pg_db()
    _fill(db)
    source = PostgresSource(pg_url(db))
    data, info = _dump(source)
    events = []
    lock = threading.Lock()

    def sink(p: object) -> None:
        with lock:
            events.append(p)

    source.restore(io.BytesIO(data), info, progress=sink)
    assert events[-1].finished and events[-1].bytes_done == len(data)  # type: ignore[attr-defined]
    assert {"load", "verify", "swap"} <= {e.phase for e in events}  # type: ignore[attr-defined]


def test_password_never_on_the_command_line(pg_db: Callable[..., str]) -> None:
    db = pg_db()
    _fill(db, "CREATE TABLE big AS SELECT i FROM generate_series(1, 300000) i;")
    source = PostgresSource(f"postgresql://postgres:s3cret-pw@127.0.0.1:5432/{db}")
    with source.dump() as (stream, _):
        stream.read(1024)
        cmdlines = []
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    cmdlines.append(Path(f"/proc/{pid}/cmdline").read_bytes())
                except OSError:
                    continue
        assert any(b"pg_dump" in c for c in cmdlines)
        assert not any(b"s3cret-pw" in c for c in cmdlines)
        while stream.read(65536):
            pass


@pytest.mark.parametrize("attack", [
    b"\\! touch {flag}\n",                       # a psql shell command on its own line
    b"SELECT 1; \\! touch {flag}\n",             # ... or after SQL on the same line
    b"\\o |touch {flag}\nSELECT 1;\n",           # output piped to a program
])
def test_forged_dump_cannot_run_commands_on_the_restoring_host(pg_db: Callable[..., str], tmp_path: Path,
                                                               attack: bytes) -> None:
    """A dump is repository data a write-only host can forge; psql runs restricted (sources/dumpguard.py)."""
    db = pg_db()
    _fill(db)
    source = PostgresSource(pg_url(db))
    data, info = _dump(source)
    flag = tmp_path / "PWNED"
    evil = attack.replace(b"{flag}", str(flag).encode())
    # A forger writes the whole dump: pg_dump's own \restrict line is simply left out.
    data = re.sub(rb"(?m)^\\(un)?restrict \w+\n", b"", data)
    at = data.index(b"SET statement_timeout")
    forged = data[:at] + evil + data[at:]
    with pytest.raises(RestoreError, match="restricted"):
        source.restore(io.BytesIO(forged), info)
    assert not flag.exists()
    assert source.inspect().tables == EXPECTED  # the old data is untouched
    assert pg_databases(db) == [db]


def test_restricted_stream_drops_only_pg_dumps_own_restrict_lines() -> None:
    from sitesnap.sources.dumpguard import PsqlRestricted

    body = b"SET x = 1;\nCOPY public.t (a) FROM stdin;\n\\\\restrict in data\n\\.\n\n"
    dump = (b"--\n-- PostgreSQL database dump\n--\n\n\\restrict abc\n\n" + body * 500 +
            b"--\n-- PostgreSQL database dump complete\n--\n\n\\unrestrict abc\n\n")
    for block in (1, 7, 4096, 1 << 20):
        guard = PsqlRestricted(key="K")
        out = b"".join(guard.feed(dump[i : i + block]) for i in range(0, len(dump), block)) + guard.finish()
        assert out == b"\\restrict K\n" + dump.replace(b"\\restrict abc\n", b"", 1).replace(
            b"\\unrestrict abc\n", b"", 1), block
