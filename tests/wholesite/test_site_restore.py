"""Whole-site snapshots against the real PostgreSQL and MariaDB servers and real SQLite files."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest
from tests.sources.bank import Bank, check_invariant
from tests.sources.conftest import MY_ADMIN, my_url, pg_url

from sitesnap.config import load_config
from sitesnap.engine.site import backup_site, plan_site_restore, select_snapshot
from sitesnap.errors import SitesnapError, SnapshotNotFound, SourceError
from sitesnap.format.crypto import FAST_TEST_KDF
from sitesnap.repository.repository import Repository
from sitesnap.storage.local import LocalStorage

SITESNAP = str(Path(sys.executable).with_name("sitesnap"))
PASSWORD = "site test password"


def write_site(root: Path, pg: str | None = None, my: str | None = None) -> Path:
    (root / "instance").mkdir(parents=True, exist_ok=True)
    (root / "uploads" / "cache").mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(root / "instance" / "blog.db")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE IF NOT EXISTS post (id INTEGER PRIMARY KEY, title TEXT)")
    db.executemany("INSERT INTO post (title) VALUES (?)", [(f"post {i}",) for i in range(300)])
    db.commit()
    db.close()
    (root / "uploads" / "a.jpg").write_bytes(os.urandom(50_000))
    (root / "uploads" / "notes.txt").write_text("hello\n")
    (root / "uploads" / "cache" / "thumb").write_bytes(b"cache")
    text = """
[site]
name = "blog"

[[sources]]
name = "db"
type = "sqlite"
path = "instance/blog.db"

[[sources]]
name = "uploads"
type = "files"
path = "uploads"
exclude = ["cache/"]
"""
    if pg:
        text += f'\n[[sources]]\nname = "main"\ntype = "postgres"\nurl = "{pg_url(pg)}"\n'
    if my:
        text += f'\n[[sources]]\nname = "shop"\ntype = "mysql"\nurl = "{my_url(my)}"\n'
    text += '\n[[repositories]]\nname = "local"\nurl = "backups"\npassword = { env = "SITE_TEST_PASSWORD" }\n'
    (root / "sitesnap.toml").write_text(text)
    return root / "sitesnap.toml"


def fill_pg(db: str, rows: int) -> None:
    with psycopg.connect(pg_url(db), autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS item (id serial PRIMARY KEY, name text)")
        conn.execute("INSERT INTO item (name) SELECT 'item ' || g FROM generate_series(1, %s) g", (rows,))


def pg_count(db: str, table: str = "item") -> int:
    with psycopg.connect(pg_url(db)) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
        assert row is not None
        return int(row[0])


def fill_my(db: str, rows: int) -> None:
    conn = pymysql.connect(**MY_ADMIN, database=db, autocommit=True)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS orders (id INT AUTO_INCREMENT PRIMARY KEY, total INT) ENGINE=InnoDB")
        cur.executemany("INSERT INTO orders (total) VALUES (%s)", [(i,) for i in range(rows)])
    conn.close()


def my_count(db: str) -> int:
    conn = pymysql.connect(**MY_ADMIN, database=db)
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM orders")
        (n,) = cur.fetchone()
    conn.close()
    return int(n)


def sqlite_count(path: Path) -> int:
    db = sqlite3.connect(path)
    try:
        return int(db.execute("SELECT count(*) FROM post").fetchone()[0])
    finally:
        db.close()


@pytest.fixture
def site_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SITE_TEST_PASSWORD", PASSWORD)


def open_repo(cfg: Any) -> Repository:
    path = cfg.primary.local_path
    storage = LocalStorage(path)
    try:
        return Repository.open(storage, PASSWORD)
    except SitesnapError:
        return Repository.init(storage, PASSWORD, kdf=FAST_TEST_KDF)


def test_round_trip_every_kind_in_place_with_undo(tmp_path: Path, pg_db: Any, my_db: Any, site_env: None) -> None:
    pg, my = pg_db(), my_db()
    fill_pg(pg, 2000)
    fill_my(my, 1500)
    cfg = load_config(write_site(tmp_path, pg, my))
    repo = open_repo(cfg)
    first = backup_site(repo, cfg, tags=["t1"])
    recorded = {s["name"]: s for s in first.snapshot.sources}
    assert recorded["main"]["tables"] == {"public.item": 2000}
    assert recorded["shop"]["tables"] == {"orders": 1500}
    assert recorded["db"]["tables"] == {"post": 300}
    assert recorded["main"]["server_version"] and recorded["main"]["tool_version"]

    # damage everything
    fill_pg(pg, 10)
    fill_my(my, 7)
    db = sqlite3.connect(tmp_path / "instance" / "blog.db")
    db.execute("DELETE FROM post WHERE id > 100")
    db.commit()
    db.close()
    (tmp_path / "uploads" / "a.jpg").unlink()
    (tmp_path / "uploads" / "new.txt").write_text("added after the backup")

    plan = plan_site_restore(repo, cfg, select_snapshot(repo, "blog", "latest", None))
    by_name = {i.source: i for i in plan.items}
    assert by_name["main"].before == {"public.item": 2010} and by_name["main"].after == {"public.item": 2000}
    assert by_name["uploads"].delete == 1 and by_name["uploads"].create == 1
    assert plan.overwrites_live_data
    plan.execute(safety=True)
    assert pg_count(pg) == 2000 and my_count(my) == 1500
    assert sqlite_count(tmp_path / "instance" / "blog.db") == 300
    assert (tmp_path / "uploads" / "a.jpg").exists() and not (tmp_path / "uploads" / "new.txt").exists()
    assert (tmp_path / "uploads" / "cache" / "thumb").read_bytes() == b"cache", "excluded files must survive"

    # the pre-restore snapshot holds the damaged state: restoring it undoes the restore
    assert plan.safety_snapshot
    undo = plan_site_restore(repo, cfg, repo.find_snapshot(plan.safety_snapshot))
    undo.execute(safety=False)
    assert pg_count(pg) == 2010 and my_count(my) == 1507
    assert sqlite_count(tmp_path / "instance" / "blog.db") == 100
    assert (tmp_path / "uploads" / "new.txt").exists()
    repo.close()


def test_one_source_elsewhere_leaves_the_others_untouched(
    tmp_path: Path, pg_db: Any, my_db: Any, site_env: None
) -> None:
    pg, my = pg_db(), my_db()
    fill_pg(pg, 500)
    fill_my(my, 300)
    cfg = load_config(write_site(tmp_path, pg, my))
    repo = open_repo(cfg)
    backup_site(repo, cfg)
    fill_pg(pg, 1)
    fill_my(my, 1)
    pg_copy, my_copy = pg_db(create=False), my_db(create=False)
    snap = select_snapshot(repo, "blog", None, None)
    plan = plan_site_restore(repo, cfg, snap, ["main", "shop", "db"], {
        "main": pg_url(pg_copy), "shop": my_url(my_copy), "db": str(tmp_path / "copy" / "blog.db")})
    assert not plan.overwrites_live_data
    plan.execute()
    assert plan.safety_snapshot is None
    assert pg_count(pg_copy) == 500 and my_count(my_copy) == 300
    assert sqlite_count(tmp_path / "copy" / "blog.db") == 300
    # the live databases still have their extra row
    assert pg_count(pg) == 501 and my_count(my) == 301
    repo.close()


def test_at_picks_the_newest_snapshot_at_or_before(tmp_path: Path, site_env: None) -> None:
    cfg = load_config(write_site(tmp_path))
    repo = open_repo(cfg)
    snaps = []
    for _ in range(3):
        snaps.append(backup_site(repo, cfg).snapshot)
        time.sleep(0.05)
    between = snaps[1].time + (snaps[2].time - snaps[1].time) / 2
    assert select_snapshot(repo, "blog", None, between.isoformat()).id == snaps[1].id
    assert select_snapshot(repo, "blog", None, snaps[0].time.isoformat()).id == snaps[0].id
    with pytest.raises(SnapshotNotFound):
        select_snapshot(repo, "blog", None, "2001-01-01T00:00:00+00:00")
    repo.close()


def test_consistent_while_four_writers_move_money(tmp_path: Path, pg_db: Any, site_env: None) -> None:
    pg = pg_db()
    bank = Bank(lambda: psycopg.connect(pg_url(pg)), "%s")
    with psycopg.connect(pg_url(pg)) as conn:
        bank.create(conn, serial="serial PRIMARY KEY")
    cfg = load_config(write_site(tmp_path, pg))
    repo = open_repo(cfg)
    bank.start(4)
    try:
        bank.wait_for_commits(20)
        snaps = [backup_site(repo, cfg, sources=["main"]).snapshot for _ in range(3)]
    finally:
        bank.finish()
    assert bank.commits > 0
    for snap in snaps:
        target = pg_db(create=False)
        plan_site_restore(repo, cfg, snap, ["main"], {"main": pg_url(target)}).execute()
        with psycopg.connect(pg_url(target)) as conn:
            moved = check_invariant(conn)
        recorded = {s["name"]: s for s in snap.sources}["main"]["tables"]
        assert recorded["public.transfers"] == moved
    repo.close()


def run_cli(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "SITE_TEST_PASSWORD": PASSWORD, **(env or {})}
    full_env.pop("SITESNAP_PASSWORD", None)
    return subprocess.run([SITESNAP, "-c", "sitesnap.toml", *args], cwd=cwd, env=full_env, text=True,
                          capture_output=True, timeout=120)


def test_cli_broken_inputs_give_one_clear_error(tmp_path: Path, pg_db: Any, site_env: None) -> None:
    pg = pg_db()
    fill_pg(pg, 10)
    write_site(tmp_path, pg)
    assert run_cli(tmp_path, "init").returncode == 0
    ok = run_cli(tmp_path, "backup")
    assert ok.returncode == 0, ok.stderr

    # a config typo: file, line and key, with a suggestion
    text = (tmp_path / "sitesnap.toml").read_text()
    (tmp_path / "sitesnap.toml").write_text(text.replace('exclude = ["cache/"]', 'exlude = ["cache/"]'))
    bad = run_cli(tmp_path, "backup")
    assert bad.returncode == 2
    assert "sitesnap.toml:" in bad.stderr and "exlude" in bad.stderr and "Traceback" not in bad.stderr
    (tmp_path / "sitesnap.toml").write_text(text)

    # a database that vanished: the backup fails cleanly, no snapshot is written
    before = run_cli(tmp_path, "snapshots", "--json").stdout
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{pg}" WITH (FORCE)')
    gone = run_cli(tmp_path, "backup")
    assert gone.returncode == SourceError.exit_code, gone.stderr
    assert gone.stderr.count("\n") <= 3 and "Traceback" not in gone.stderr
    assert run_cli(tmp_path, "snapshots", "--json").stdout == before

    # restore into it again: the missing database is created from the snapshot
    restored = run_cli(tmp_path, "restore", "latest", "--source", "main", "--yes")
    assert restored.returncode == 0, restored.stderr
    assert pg_count(pg) == 10

    # a wrong database URL
    (tmp_path / "sitesnap.toml").write_text(text.replace(pg_url(pg), "postgresql://postgres@127.0.0.1:1/nope"))
    wrong = run_cli(tmp_path, "backup")
    assert wrong.returncode == SourceError.exit_code and "Traceback" not in wrong.stderr
    check = run_cli(tmp_path, "check")
    assert check.returncode == 0, check.stderr
