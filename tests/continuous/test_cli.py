"""``sitesnap capture`` and ``sitesnap timeline`` as a user runs them."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from tests.conftest import SITESNAP, CliResult

from sitesnap.engine.replay import restore_source_at, source_timelines, to_datetime
from sitesnap.repository.logtimeline import Generation
from sitesnap.repository.repository import Repository

from .site import make_site, open_repo
from .writers import rows_in


def test_capture_once_then_timeline(tmp_path: Path, run_cli: Callable[..., CliResult]) -> None:
    cfg, db, _repo_path = make_site(tmp_path)
    app = sqlite3.connect(db, isolation_level=None)
    app.execute("INSERT INTO rows VALUES (0, 0, 0, x'00')")
    first = run_cli("-c", str(cfg), "capture", "--once", "--json")
    assert first.code == 0, first.stderr
    [summary] = json.loads(first.stdout)["sources"]
    assert summary["generations_started"] == 1 and summary["source"] == "db"
    app.execute("INSERT INTO rows VALUES (0, 1, 0, x'00')")
    second = run_cli("-c", str(cfg), "capture", "--once")
    assert second.code == 0 and "resumed; 1 commits" in second.stdout
    shown = run_cli("-c", str(cfg), "timeline", "--json")
    [entry] = json.loads(shown.stdout)["sources"]
    assert entry["source"] == "db" and len(entry["generations"]) == 1 and entry["gaps"] == []
    assert "restorable from" in run_cli("-c", str(cfg), "timeline").stdout
    app.close()


def test_sigterm_stops_after_a_last_shipment(tmp_path: Path) -> None:
    cfg, db, repo_path = make_site(tmp_path)
    app = sqlite3.connect(db, isolation_level=None)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("SITESNAP_")},
           "SITESNAP_PASSWORD": "correct horse battery staple"}
    proc = subprocess.Popen([SITESNAP, "-c", str(cfg), "capture", "--interval", "30"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(3)  # started, base taken, now waiting 30 s for the next poll
    app.execute("INSERT INTO rows VALUES (5, 5, 0, x'00')")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "1 commits" in out
    repo = open_repo(repo_path)
    [timeline_newest] = [g.newest_ns for g in _generations(repo)]
    restore_source_at(repo, "db", to_datetime(timeline_newest), tmp_path / "r.db")
    assert rows_in(tmp_path / "r.db") == {(5, 5)}
    app.close()


def test_other_source_types_are_refused(tmp_path: Path, run_cli: Callable[..., CliResult]) -> None:
    cfg, _db, _repo = make_site(tmp_path)
    cfg.write_text(cfg.read_text().replace('type = "sqlite"\npath = "site.db"', 'type = "files"\npath = "."'))
    result = run_cli("-c", str(cfg), "capture", "--once")
    assert result.code == 2
    assert "continuous capture is not available for files sources" in result.stderr
    assert "Traceback" not in result.stderr


def _generations(repo: Repository) -> list[Generation]:
    return source_timelines(repo)["db"].generations


def test_capture_reports_its_progress_to_status(tmp_path: Path, run_cli: Callable[..., CliResult]) -> None:
    """What `capture` ships is what `status` shows, without anyone reading the repository."""
    cfg, db, _repo_path = make_site(tmp_path)
    app = sqlite3.connect(db, isolation_level=None)
    app.execute("INSERT INTO rows VALUES (0, 0, 0, x'00')")
    assert run_cli("-c", str(cfg), "capture", "--once").code == 0
    app.execute("INSERT INTO rows VALUES (0, 1, 0, x'00')")
    assert run_cli("-c", str(cfg), "capture", "--once").code == 0
    shown = run_cli("-c", str(cfg), "status", "--json", password=None)
    (site,) = json.loads(shown.stdout)["sites"]
    [source] = [s for s in site["sources"] if s["name"] == "db"]
    capture = source["capture"]
    assert capture["last_shipped_at"] is not None and capture["segments_total"] >= 2, capture
    assert capture["lag_seconds"] < 60, capture
    app.close()
