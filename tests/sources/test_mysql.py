"""MySQL/MariaDB source against the real MariaDB server on 127.0.0.1:3306."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable
from pathlib import Path

import pymysql
import pytest

from sitesnap.errors import MissingTool, RestoreError, SourceError
from sitesnap.sources.db import DumpInfo, open_database_source
from sitesnap.sources.mysql import MysqlSource

from .bank import Bank, check_invariant
from .conftest import MY_ADMIN, my_connect, my_databases, my_url

SCHEMA = [
    "CREATE TABLE posts (id INT PRIMARY KEY AUTO_INCREMENT, title VARCHAR(200), body BLOB) ENGINE=InnoDB",
    "CREATE TABLE `odd``name` (x INT)",
    "CREATE TABLE empty_table (x INT)",
    "CREATE TABLE audit (n INT)",
    "CREATE TABLE legacy (x INT) ENGINE=MyISAM",
    "CREATE VIEW recent AS SELECT id, title FROM posts WHERE id > 5",
    "CREATE VIEW recent2 AS SELECT id FROM recent",
    "CREATE TRIGGER posts_audit AFTER INSERT ON posts FOR EACH ROW\nINSERT INTO `audit` VALUES (NEW.id)",
    "CREATE FUNCTION twice(x INT) RETURNS INT DETERMINISTIC RETURN x * 2",
    "CREATE SEQUENCE seq",
]
EXPECTED = {"posts": 300, "odd`name": 2, "empty_table": 0, "audit": 300, "legacy": 3}


def _fill(db: str) -> None:
    conn = my_connect(db, autocommit=True)
    with conn.cursor() as cur:
        for stmt in SCHEMA:
            cur.execute(stmt)
        cur.executemany(
            "INSERT INTO posts (title, body) VALUES (%s, %s)",
            [(f"post {i} ü '\"\\\n\t),(\nINSERT INTO `x` VALUES (", bytes(range(256)) * 3) for i in range(300)],
        )
        cur.execute("INSERT INTO `odd``name` VALUES (1), (2)")
        cur.execute("INSERT INTO legacy VALUES (1), (2), (3)")
    conn.close()


def _dump(source: MysqlSource) -> tuple[bytes, DumpInfo]:
    with source.dump() as (stream, future):
        chunks = []
        while block := stream.read(4096):
            chunks.append(block)
    return b"".join(chunks), future.result()


def test_round_trip_in_place_and_to_another_database(my_db: Callable[..., str]) -> None:
    db = my_db()
    _fill(db)
    source = open_database_source("mysql", url=my_url(db))
    assert isinstance(source, MysqlSource)
    data, info = _dump(source)
    assert info.tables == EXPECTED
    assert info.kind == "mysql" and info.database == db and "MariaDB" in info.server_version
    assert any("legacy" in w and "MyISAM" in w for w in info.warnings)
    assert DumpInfo.from_dict(info.to_dict()) == info
    assert source.inspect().tables == EXPECTED

    other = my_db(create=False)
    assert not source.inspect(my_url(other)).exists
    report = source.restore(io.BytesIO(data), info, my_url(other))
    assert report.created and report.tables == EXPECTED
    assert source.inspect(my_url(other)).tables == EXPECTED

    conn = my_connect(db, autocommit=True)
    with conn.cursor() as cur:
        cur.execute("DELETE FROM posts WHERE id > 3")
        cur.execute("DROP VIEW recent2")
        cur.execute("CREATE TABLE junk (y INT)")
    conn.close()
    report = source.restore(io.BytesIO(data), info)
    assert report.method == "swap" and not report.created
    assert source.inspect().tables == EXPECTED
    conn = my_connect(db, autocommit=True)
    with conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM recent2")
        assert cur.fetchone() == (295,)
        cur.execute("INSERT INTO posts (title) VALUES ('trigger still there')")
        cur.execute("SELECT COUNT(*), twice(21), NEXTVAL(seq) FROM audit")
        assert cur.fetchone() == (301, 42, 1)
        cur.execute("SELECT title, body FROM posts WHERE id = 7")
        assert cur.fetchone() == ("post 6 ü '\"\\\n\t),(\nINSERT INTO `x` VALUES (", bytes(range(256)) * 3)
    conn.close()
    assert my_databases(db) == [db]  # no temp or old copy left behind


def test_keep_old_keeps_the_previous_tables_aside(my_db: Callable[..., str]) -> None:
    db = my_db()
    _fill(db)
    source = MysqlSource(my_url(db), keep_old=True)
    data, info = _dump(source)
    conn = my_connect(db, autocommit=True)
    with conn.cursor() as cur:
        cur.execute("DELETE FROM posts WHERE id > 10")
    conn.close()
    report = source.restore(io.BytesIO(data), info)
    assert report.kept_old.startswith(f"{db}__sitesnap_old_")
    assert source.inspect(my_url(report.kept_old)).tables == {**EXPECTED, "posts": 10}
    assert source.inspect().tables == EXPECTED


def test_two_dumps_of_unchanged_database_are_byte_identical(my_db: Callable[..., str]) -> None:
    db = my_db()
    _fill(db)
    source = MysqlSource(my_url(db))
    first, _ = _dump(source)
    second, _ = _dump(source)
    assert len(first) > 10_000
    assert hashlib.sha256(first).digest() == hashlib.sha256(second).digest()


def test_consistent_while_four_writers_transfer_money(my_db: Callable[..., str]) -> None:
    db = my_db()
    bank = Bank(lambda: my_connect(db), "%s", begin="")
    conn = my_connect(db)
    bank.create(conn, serial="BIGINT PRIMARY KEY AUTO_INCREMENT")
    conn.close()
    source = MysqlSource(my_url(db))
    bank.start(4)
    try:
        for _ in range(3):
            bank.wait_for_commits(100)
            data, info = _dump(source)
            copy = my_db(create=False)
            source.restore(io.BytesIO(data), info, my_url(copy))
            conn = my_connect(copy)
            assert check_invariant(conn) == info.tables["transfers"]
            conn.close()
    finally:
        bank.finish()
    assert bank.commits >= 300


def test_connection_errors_are_one_clear_line(my_db: Callable[..., str]) -> None:
    db = my_db()
    cases = {
        "mysql://root@127.0.0.1:1/x": "cannot connect to MySQL at 127.0.0.1:1",
        f"mysql://nobody_x:pw@127.0.0.1:3306/{db}": "authentication failed for user 'nobody_x'",
        "mariadb://root@127.0.0.1:3306/no_such_db_sitesnap": "database 'no_such_db_sitesnap' does not exist",
    }
    for url, expected in cases.items():
        with pytest.raises(SourceError) as err, MysqlSource(url).dump():
            pass
        assert expected in err.value.message
        assert "\n" not in err.value.message


def test_missing_client_names_the_package(my_db: Callable[..., str], tmp_path: Path) -> None:
    source = MysqlSource(my_url(my_db()), bin_dirs=[str(tmp_path)])
    with pytest.raises(MissingTool) as err, source.dump():
        pass
    assert "mariadb-dump is not installed" in err.value.message
    assert "apt-get install mariadb-client" in err.value.hint


def test_connection_killed_mid_dump_fails_the_dump(my_db: Callable[..., str]) -> None:
    db = my_db()
    conn = my_connect(db, autocommit=True)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE big (i INT PRIMARY KEY, pad VARCHAR(300))")
        cur.execute("INSERT INTO big SELECT seq, REPEAT('x', 200) FROM seq_1_to_100000")
    source = MysqlSource(my_url(db))
    with pytest.raises(SourceError) as err, source.dump() as (stream, future):
        assert stream.read(65536)
        with conn.cursor() as cur:
            cur.execute("SELECT id FROM information_schema.processlist WHERE db = %s AND id <> CONNECTION_ID()", (db,))
            ids = [r[0] for r in cur.fetchall()]
            assert ids
            for pid in ids:
                cur.execute(f"KILL {int(pid)}")
        while stream.read(65536):
            pass
    conn.close()
    assert "mariadb-dump" in err.value.message and "failed" in err.value.message
    assert "\n" not in err.value.message
    assert not future.done()


def test_failed_restore_leaves_target_untouched(my_db: Callable[..., str]) -> None:
    db = my_db()
    _fill(db)
    source = MysqlSource(my_url(db))
    data, info = _dump(source)
    conn = my_connect(db, autocommit=True)
    with conn.cursor() as cur:
        cur.execute("DELETE FROM posts WHERE id > 10")
    conn.close()
    changed = {**EXPECTED, "posts": 10}

    wrong = DumpInfo(**{**info.to_dict(), "tables": {**EXPECTED, "posts": 299}})
    with pytest.raises(RestoreError, match="posts: 300 != 299"):
        source.restore(io.BytesIO(data), wrong)
    cut = data[: data.index(b"INSERT INTO `posts`") + 5000]
    with pytest.raises(RestoreError, match=r"loading the dump|incomplete"):
        source.restore(io.BytesIO(cut), info)
    broken = data.replace(b"CREATE TABLE `audit`", b"CREATE TABLE `audit` `audit`", 1)
    with pytest.raises(RestoreError, match=r"loading the dump .* failed: .*SQL syntax"):
        source.restore(io.BytesIO(broken), info)
    assert source.inspect().tables == changed
    conn = my_connect(db, autocommit=True)
    with conn.cursor() as cur:  # the trigger of the untouched database still works
        cur.execute("INSERT INTO posts (title) VALUES ('x')")
        cur.execute("SELECT COUNT(*) FROM audit")
        assert cur.fetchone() == (301,)
    conn.close()
    assert my_databases(db) == [db]


def test_password_never_on_the_command_line(my_db: Callable[..., str]) -> None:
    db = my_db()
    admin = pymysql.connect(**MY_ADMIN, autocommit=True)
    user = f"u_{db[-8:]}"
    with admin.cursor() as cur:
        cur.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY 's3cret-pw'")
        cur.execute(f"GRANT ALL ON `{db}`.* TO '{user}'@'%'")
        cur.execute(f"CREATE TABLE `{db}`.big (i INT PRIMARY KEY)")
        cur.execute(f"INSERT INTO `{db}`.big SELECT seq FROM `{db}`.seq_1_to_200000")
    try:
        source = MysqlSource(f"mysql://{user}:s3cret-pw@127.0.0.1:3306/{db}")
        with source.dump() as (stream, future):
            stream.read(1024)
            cmdlines = []
            for pid in os.listdir("/proc"):
                if pid.isdigit():
                    try:
                        cmdlines.append(Path(f"/proc/{pid}/cmdline").read_bytes())
                    except OSError:
                        continue
            assert any(b"mariadb-dump" in c for c in cmdlines)
            assert not any(b"s3cret-pw" in c for c in cmdlines)
            while stream.read(65536):
                pass
        assert future.result().tables == {"big": 200000}
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP USER '{user}'@'%'")
        admin.close()


@pytest.mark.parametrize("attack", [b"\\! touch {flag}\n", b"system touch {flag}\n"])
def test_forged_dump_cannot_run_commands_on_the_restoring_host(my_db: Callable[..., str], tmp_path: Path,
                                                               attack: bytes) -> None:
    """A dump is repository data a write-only host can forge; the client runs with --sandbox."""
    db = my_db()
    _fill(db)
    source = MysqlSource(my_url(db))
    data, info = _dump(source)
    flag = tmp_path / "PWNED"
    # A forger writes the whole dump: mariadb-dump's own sandbox line is simply left out.
    data = data.replace(b"/*M!999999\\- enable the sandbox mode */", b"")
    assert b"sandbox" not in data
    at = data.index(b"CREATE TABLE")
    forged = data[:at] + attack.replace(b"{flag}", str(flag).encode()) + data[at:]
    with pytest.raises(RestoreError, match="sandbox"):
        source.restore(io.BytesIO(forged), info)
    assert not flag.exists()
    assert source.inspect().tables == EXPECTED
    assert my_databases(db) == [db]
