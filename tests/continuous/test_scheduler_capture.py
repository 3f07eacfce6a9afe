"""``sitesnap scheduler`` captures continuous sources by itself and flushes them when it stops."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from tests.conftest import SITESNAP

from sitesnap.catalog import open_catalog
from sitesnap.config.loader import load_config
from sitesnap.engine.replay import restore_source_at, source_timelines, to_datetime
from sitesnap.runtime.scheduler import SiteScheduler

from .site import PASSWORD, make_site, open_repo
from .test_site_at import env
from .writers import rows_in


def wait_for_base(repo_path: Path, timeout: float = 60) -> None:
    """Until the capture thread has stored the source's first base."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        repo = open_repo(repo_path)
        try:
            if "db" in source_timelines(repo):
                return
        finally:
            repo.close()
        time.sleep(0.2)
    raise AssertionError("no base was taken")


def test_scheduler_takes_a_base_ships_commits_and_flushes_on_sigterm(tmp_path: Path) -> None:
    cfg, db, repo_path = make_site(tmp_path)
    cfg.write_text(cfg.read_text() + f'[runtime]\nstate_dir = "{tmp_path / "state"}"\n')
    app = sqlite3.connect(db, isolation_level=None)
    proc = subprocess.Popen([SITESNAP, "-c", str(cfg), "scheduler"], env=env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        wait_for_base(repo_path)
        time.sleep(0.5)  # the signal handlers are set right after the scheduler started
        for n in range(20):
            app.execute("INSERT INTO rows VALUES (1, ?, 0, x'00')", (n,))
        time.sleep(0.05)  # well inside the 1 s interval: only the final flush can ship the last of them
        app.execute("INSERT INTO rows VALUES (1, 99, 0, x'00')")
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    repo = open_repo(repo_path)
    timeline = source_timelines(repo)["db"]
    assert len(timeline.generations) == 1 and timeline.newest_ns is not None
    restore_source_at(repo, "db", to_datetime(timeline.newest_ns), tmp_path / "r.db")
    assert rows_in(tmp_path / "r.db") == {(1, n) for n in [*range(20), 99]}
    app.close()


def test_a_scheduled_prune_pauses_the_capture_and_it_resumes(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The capture's shared lock would refuse prune's exclusive one: the scheduler pauses it meanwhile."""
    cfg_path, db, repo_path = make_site(tmp_path)
    cfg_path.write_text(cfg_path.read_text() + f'[runtime]\nstate_dir = "{tmp_path / "state"}"\n')
    monkeypatch.setenv("SITESNAP_PASSWORD", PASSWORD)
    monkeypatch.delenv("SITESNAP_PASSWORD_FILE", raising=False)
    cfg = load_config(cfg_path)
    catalog = open_catalog(cfg.runtime.catalog_url)
    app = sqlite3.connect(db, isolation_level=None)
    sched = SiteScheduler(cfg, catalog)
    try:
        sched.start()
        wait_for_base(repo_path)
        app.execute("INSERT INTO rows VALUES (2, 0, 0, x'00')")
        time.sleep(2.5)
        run = sched.fire("prune")
        assert run is not None and run.status == "completed", run
        app.execute("INSERT INTO rows VALUES (2, 1, 0, x'00')")
        time.sleep(2.5)
        assert sched.capture.failures == 0
    finally:
        sched.shutdown()
        catalog.close()
    repo = open_repo(repo_path)
    timeline = source_timelines(repo)["db"]
    assert timeline.newest_ns is not None
    restore_source_at(repo, "db", to_datetime(timeline.newest_ns), tmp_path / "r.db")
    assert rows_in(tmp_path / "r.db") == {(2, 0), (2, 1)}
    app.close()
