"""SQLite source against real database files."""

from __future__ import annotations

import hashlib
import io
import sqlite3
from pathlib import Path

import pytest

from sitesnap.errors import RestoreError, SourceError
from sitesnap.sources.db import DumpInfo, open_database_source
from sitesnap.sources.sqlite import SqliteSource

from .bank import Bank, check_invariant


def _make(path: Path, *, wal: bool = False, rows: int = 500) -> None:
    conn = sqlite3.connect(path)
    if wal:
        conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE posts (id INTEGER PRIMARY KEY, title TEXT, body BLOB)")
    conn.execute("CREATE TABLE empty (x)")
    conn.executemany(
        "INSERT INTO posts (title, body) VALUES (?, ?)",
        [(f"post {i} ünïcode", bytes(range(256)) * 4) for i in range(rows)],
    )
    conn.commit()
    conn.close()


def _dump(source: SqliteSource) -> tuple[bytes, DumpInfo]:
    with source.dump() as (stream, future):
        data = stream.read()
    return data, future.result()


def test_round_trip_to_new_path_and_in_place(tmp_path: Path) -> None:
    db = tmp_path / "blog.db"
    _make(db)
    source = open_database_source("sqlite", path=str(db), name="main")
    data, info = _dump(source)  # type: ignore[arg-type]
    assert info.tables == {"posts": 500, "empty": 0}
    assert info.kind == "sqlite" and info.database == "main"
    assert DumpInfo.from_dict(info.to_dict()) == info

    copy = tmp_path / "sub" / "copy.db"
    report = source.restore(io.BytesIO(data), info, str(copy))
    assert report.method == "rename" and report.created
    assert source.inspect(str(copy)).tables == info.tables

    # change the original, then roll it back in place
    conn = sqlite3.connect(db)
    conn.execute("DELETE FROM posts WHERE id > 10")
    conn.commit()
    conn.close()
    assert source.inspect().tables["posts"] == 10
    report = source.restore(io.BytesIO(data), info)
    assert report.method == "backup-api" and not report.created
    assert source.inspect().tables == {"posts": 500, "empty": 0}


def test_in_place_restore_keeps_open_connections_valid(tmp_path: Path) -> None:
    db = tmp_path / "live.db"
    _make(db, wal=True, rows=20)
    source = SqliteSource(db)
    data, info = _dump(source)
    site = sqlite3.connect(db)  # the site's long-lived connection
    site.execute("INSERT INTO posts (title) VALUES ('after backup')")
    site.commit()
    assert site.execute("SELECT count(*) FROM posts").fetchone()[0] == 21
    source.restore(io.BytesIO(data), info)
    assert site.execute("SELECT count(*) FROM posts").fetchone()[0] == 20
    site.execute("INSERT INTO posts (title) VALUES ('still writable')")
    site.commit()
    site.close()
    assert source.inspect().tables["posts"] == 21
    assert sqlite3.connect(db).execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_stale_wal_next_to_new_target_is_not_replayed(tmp_path: Path) -> None:
    old = tmp_path / "old.db"
    _make(old, wal=True, rows=5)
    holder = sqlite3.connect(old)
    holder.execute("PRAGMA wal_autocheckpoint=0")
    holder.execute("DELETE FROM posts")
    holder.commit()
    target = tmp_path / "target.db"
    (tmp_path / "target.db-wal").write_bytes((tmp_path / "old.db-wal").read_bytes())
    holder.close()

    src = tmp_path / "src.db"
    _make(src, wal=True, rows=7)
    source = SqliteSource(src)
    data, info = _dump(source)
    source.restore(io.BytesIO(data), info, str(target))
    assert source.inspect(str(target)).tables["posts"] == 7


def test_two_dumps_of_unchanged_database_are_identical(tmp_path: Path) -> None:
    for wal in (False, True):
        db = tmp_path / f"same-{wal}.db"
        _make(db, wal=wal)
        source = SqliteSource(db)
        first, _ = _dump(source)
        second, _ = _dump(source)
        assert hashlib.sha256(first).digest() == hashlib.sha256(second).digest()


def test_damaged_or_mismatching_dump_leaves_target_untouched(tmp_path: Path) -> None:
    db = tmp_path / "keep.db"
    _make(db, rows=30)
    source = SqliteSource(db)
    data, info = _dump(source)
    before = db.read_bytes()

    wrong = DumpInfo(**{**info.to_dict(), "tables": {"posts": 31, "empty": 0}})
    with pytest.raises(RestoreError, match="row counts"):
        source.restore(io.BytesIO(data), wrong)
    damaged = bytearray(data)
    damaged[len(damaged) // 2 : len(damaged) // 2 + 4096] = b"\xff" * 4096
    with pytest.raises(RestoreError):
        source.restore(io.BytesIO(bytes(damaged)), info)
    with pytest.raises(RestoreError):
        source.restore(io.BytesIO(data[: len(data) // 3]), info)
    assert db.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.db"]


def test_missing_database_is_one_clear_error(tmp_path: Path) -> None:
    source = SqliteSource(tmp_path / "nope.db")
    with pytest.raises(SourceError, match="does not exist"), source.dump():
        pass
    assert not (tmp_path / "nope.db").exists()
    assert not source.inspect().exists


@pytest.mark.parametrize("wal", [True, False], ids=["wal", "rollback"])
def test_consistent_while_four_writers_transfer_money(tmp_path: Path, wal: bool) -> None:
    db = tmp_path / "bank.db"
    setup = sqlite3.connect(db, isolation_level=None)
    if wal:
        setup.execute("PRAGMA journal_mode=WAL")
    bank = Bank(
        lambda: sqlite3.connect(db, timeout=30, isolation_level=None, check_same_thread=False),
        "?",
        begin="BEGIN IMMEDIATE",
    )
    setup.execute("BEGIN")
    bank.create(setup)
    setup.close()
    source = SqliteSource(db, pages=4)
    bank.start(4)
    try:
        for round_ in range(4):
            bank.wait_for_commits(50)
            data, info = _dump(source)
            target = tmp_path / f"restored-{round_}.db"
            source.restore(io.BytesIO(data), info, str(target))
            conn = sqlite3.connect(target)
            assert check_invariant(conn) == info.tables["transfers"]
            conn.close()
    finally:
        bank.finish()
    assert bank.commits > 200
