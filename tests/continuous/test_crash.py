"""SIGKILL the capture at random moments while 4 writers run; the repository stays sound and replayable.

``SITESNAP_CRASH_ROUNDS`` sets the number of kills (3 by default; a local
campaign runs 20 or more).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path

from tests.conftest import SITESNAP

from sitesnap.engine.continuous import run_capture
from sitesnap.engine.replay import restore_source_at, source_timelines, to_datetime
from sitesnap.repository.logcheck import check_log_segments

from .site import PASSWORD, make_site, open_repo, sqlite_source
from .writers import SLACK_NS, Writers, rows_in

ROUNDS = int(os.environ.get("SITESNAP_CRASH_ROUNDS", "3"))


def _env() -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("SITESNAP_")}, "SITESNAP_PASSWORD": PASSWORD}


def test_killed_captures_leave_a_sound_replayable_log(tmp_path: Path) -> None:
    cfg, db, repo_path = make_site(tmp_path)
    writers = Writers(db, pause=0.005).start()
    rng = random.Random(int.from_bytes(os.urandom(4), "little"))
    for _ in range(ROUNDS):
        proc = subprocess.Popen([SITESNAP, "-c", str(cfg), "capture", "--interval", "0.1"], env=_env(),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(0.8, 2.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    writers.finish()
    repo = open_repo(repo_path)
    run_capture(repo, [sqlite_source(db)], once=True)  # ships the rest after the last kill
    repo.close()

    check = subprocess.run([SITESNAP, "-c", str(cfg), "check", "--read-data"], env=_env(), capture_output=True,
                           text=True, timeout=300)
    assert check.returncode == 0, check.stdout + check.stderr
    repo = open_repo(repo_path)
    errors, warnings = check_log_segments(repo)
    assert errors == [] and warnings == []
    timeline = source_timelines(repo)["db"]
    assert timeline.generations
    rng_points = random.Random(7)
    replayed = 0
    for i, gen in enumerate(timeline.generations):
        points = [gen.oldest_ns, gen.newest_ns, *(rng_points.randint(gen.oldest_ns, gen.newest_ns) for _ in range(2))]
        for j, at_ns in enumerate(points):
            target = tmp_path / f"g{i}-{j}.db"
            result = restore_source_at(repo, "db", to_datetime(at_ns), target)
            assert result.integrity == "ok"
            got = rows_in(target)
            for key in got:  # nothing committed after the state's time
                assert writers.done[key][0] <= result.state_ns
            for key, (_before, after) in writers.done.items():  # and everything committed before it
                if after <= result.state_ns - SLACK_NS:
                    assert key in got
            replayed += 1
    newest = restore_source_at(repo, "db", to_datetime(timeline.generations[-1].newest_ns), tmp_path / "newest.db")
    assert rows_in(tmp_path / "newest.db") == set(writers.done) and newest.integrity == "ok"
    assert replayed >= 4
