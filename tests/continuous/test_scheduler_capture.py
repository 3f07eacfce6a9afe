"""``sitesnap scheduler`` captures continuous sources by itself and flushes them when it stops."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from pathlib import Path

from tests.conftest import SITESNAP

from sitesnap.engine.replay import restore_source_at, source_timelines, to_datetime

from .site import make_site, open_repo
from .test_site_at import env
from .writers import rows_in


def test_scheduler_takes_a_base_ships_commits_and_flushes_on_sigterm(tmp_path: Path) -> None:
    cfg, db, repo_path = make_site(tmp_path)
    cfg.write_text(cfg.read_text() + f'[runtime]\nstate_dir = "{tmp_path / "state"}"\n')
    app = sqlite3.connect(db, isolation_level=None)
    proc = subprocess.Popen([SITESNAP, "-c", str(cfg), "scheduler"], env=env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        time.sleep(4)  # started, base taken
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
