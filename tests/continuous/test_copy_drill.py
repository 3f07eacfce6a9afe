"""The log stream travels with ``copy`` (restore to a second from the copy), and drills pick a time in the window."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from tests.conftest import CliResult

from sitesnap.engine.replay import source_timelines, to_datetime
from sitesnap.format.crypto import FAST_TEST_KDF
from sitesnap.repository import logstream
from sitesnap.repository.repository import Repository
from sitesnap.storage.local import LocalStorage

from .site import PASSWORD, make_site, open_repo
from .writers import rows_in


def site_with_log(tmp_path: Path, run_cli: Callable[..., CliResult]) -> tuple[Path, Path, int, int]:
    """A site with a snapshot and a log of three captures.

    Returns (config, repository, number of segments, newest time of the first
    generation: rows of batches 0 and 1).  The third capture starts a second
    generation: the second one checkpointed the WAL, which the next writes reset.
    """
    cfg, db, repo_path = make_site(tmp_path)
    app = sqlite3.connect(db, isolation_level=None)
    assert run_cli("-c", str(cfg), "backup").code == 0
    for batch in range(3):
        for n in range(10):
            app.execute("INSERT INTO rows VALUES (?, ?, 0, randomblob(500))", (batch, n))
        assert run_cli("-c", str(cfg), "capture", "--once").code == 0
    app.close()
    repo = open_repo(repo_path)
    generations = source_timelines(repo)["db"].generations
    segments = len(logstream.segment_ids(repo))
    repo.close()
    assert sum(len(g.chain) + 1 for g in generations) == segments >= 3
    return cfg, repo_path, segments, generations[0].newest_ns


def test_copy_carries_the_log_idempotently_and_the_copy_restores_to_a_second(
    tmp_path: Path, run_cli: Callable[..., CliResult]
) -> None:
    cfg, _repo_path, segments, first_newest = site_with_log(tmp_path, run_cli)
    Repository.init(LocalStorage(tmp_path / "second"), PASSWORD, kdf=FAST_TEST_KDF).close()
    cfg.write_text(cfg.read_text() + '[[repositories]]\nname = "second"\nurl = "second"\n')
    first = run_cli("-c", str(cfg), "--json", "copy", "--to", "second")
    assert first.code == 0, first.stderr
    summary = json.loads(first.stdout.splitlines()[-1])
    assert summary["log_segments_copied"] == segments and summary["log_segments_skipped"] == 0
    again = json.loads(run_cli("-c", str(cfg), "--json", "copy", "--to", "second").stdout.splitlines()[-1])
    assert again["log_segments_copied"] == 0 and again["log_segments_skipped"] == segments
    assert run_cli("-c", str(cfg), "-r", "second", "check", "--read-data").code == 0
    middle = to_datetime(first_newest).isoformat()
    restored = run_cli("-c", str(cfg), "-r", "second", "restore", "--at", middle, "--to",
                       f"db={tmp_path / 'from-copy.db'}", "--yes")
    assert restored.code == 0, restored.stderr
    assert rows_in(tmp_path / "from-copy.db") == {(b, n) for b in (0, 1) for n in range(10)}


def test_drill_restores_a_continuous_source_to_a_time_inside_its_window(
    tmp_path: Path, run_cli: Callable[..., CliResult]
) -> None:
    cfg, repo_path, _segments, _first = site_with_log(tmp_path, run_cli)
    cfg.write_text(cfg.read_text() + f'[runtime]\nstate_dir = "{tmp_path / "state"}"\n')
    repo = open_repo(repo_path)
    timeline = source_timelines(repo)["db"]
    repo.close()
    assert timeline.oldest_ns is not None and timeline.newest_ns is not None
    drill = run_cli("-c", str(cfg), "--json", "drill", timeout=300)
    assert drill.code == 0, drill.stdout + drill.stderr
    report = json.loads(drill.stdout.splitlines()[-1])
    [check] = [c for c in report["result"]["checks"] if c["name"] == "db"]
    at = datetime.fromisoformat(check["stats"]["at"])
    assert to_datetime(timeline.oldest_ns) <= at <= to_datetime(timeline.newest_ns)
    assert check["status"] == "ok" and check["stats"]["integrity"] == "ok"
    assert datetime.fromisoformat(check["stats"]["state_time"]) <= at
