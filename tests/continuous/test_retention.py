"""``forget`` trims the log stream to what the kept snapshots reach back to; ``prune`` frees its data."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from tests.conftest import CliResult

from sitesnap.engine.replay import source_timelines, to_datetime
from sitesnap.repository import logstream

from .site import make_site, open_repo


def insert(app: sqlite3.Connection, writer: int, count: int) -> None:
    for n in range(count):
        app.execute("INSERT INTO rows VALUES (?, ?, 0, randomblob(2000))", (writer, n))


def new_generation(app: sqlite3.Connection) -> None:
    """Rewrite every page and truncate the WAL behind the capture's back: the next capture starts anew."""
    app.execute("DELETE FROM rows WHERE writer = 0")
    app.execute("VACUUM")
    assert app.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0


def snapshot_id(run_cli: Callable[..., CliResult], cfg: Path) -> str:
    result = run_cli("-c", str(cfg), "--json", "backup")
    assert result.code == 0, result.stderr
    return str(json.loads(result.stdout.splitlines()[-1])["snapshot_id"])


def test_forget_removes_generations_before_the_oldest_kept_snapshot_but_never_the_newest(
    tmp_path: Path, run_cli: Callable[..., CliResult]
) -> None:
    cfg, db, repo_path = make_site(tmp_path)
    app = sqlite3.connect(db, isolation_level=None)
    capture = ("-c", str(cfg), "capture", "--once")
    s0 = snapshot_id(run_cli, cfg)
    insert(app, 0, 200)
    assert run_cli(*capture).code == 0  # generation A
    insert(app, 1, 20)
    assert run_cli(*capture).code == 0
    new_generation(app)
    insert(app, 2, 20)
    assert run_cli(*capture).code == 0  # generation B
    time.sleep(0.05)
    s1 = snapshot_id(run_cli, cfg)
    insert(app, 3, 20)
    assert run_cli(*capture).code == 0  # B reaches past s1
    repo = open_repo(repo_path)
    [gen_a, gen_b] = source_timelines(repo)["db"].generations
    segments_before = len(logstream.segment_ids(repo))
    repo.close()

    kept = run_cli("-c", str(cfg), "--json", "forget", "--keep-last", "5")  # s0 stays: A is still needed
    assert kept.code == 0 and json.loads(kept.stdout.splitlines()[0])["log_generations"] == []
    forgot = run_cli("-c", str(cfg), "--json", "forget", s0)
    assert forgot.code == 0, forgot.stderr
    removed = json.loads(forgot.stdout.splitlines()[0])["log_generations"]
    assert removed == [{"source": "db", "generation": gen_a.generation.hex()}]
    pruned = run_cli("-c", str(cfg), "--json", "prune")
    assert pruned.code == 0, pruned.stderr
    assert run_cli("-c", str(cfg), "check", "--read-data").code == 0

    repo = open_repo(repo_path)
    [left] = source_timelines(repo)["db"].generations
    assert left.generation == gen_b.generation
    assert segments_before - len(logstream.segment_ids(repo)) == len(gen_a.chain) + 1
    repo.close()
    inside = run_cli("-c", str(cfg), "restore", "--at", to_datetime(gen_b.newest_ns).isoformat(),
                     "--source", "db", "--to", f"db={tmp_path / 'b.db'}", "--yes")
    assert inside.code == 0, inside.stderr
    gone = run_cli("-c", str(cfg), "restore", "--at", to_datetime(gen_a.newest_ns).isoformat(),
                   "--source", "db", "--to", f"db={tmp_path / 'a.db'}", "--yes")
    assert gone.code != 0 and "restorable" in gone.stderr

    time.sleep(0.05)
    snapshot_id(run_cli, cfg)  # newer than all of B
    last = run_cli("-c", str(cfg), "--json", "forget", s1)
    assert last.code == 0 and json.loads(last.stdout.splitlines()[0])["log_generations"] == []  # B is newest
    app.close()
