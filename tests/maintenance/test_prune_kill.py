"""``kill -9`` of a real ``sitesnap prune`` process at random moments loses nothing."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from sitesnap.repository.prune import prune

from .conftest import PASSWORD, Workload, assert_intact, open_repo
from .test_prune import EVERYTHING, forget_first

SITESNAP = str(Path(sys.executable).with_name("sitesnap"))
KILLS = int(os.environ.get("SITESNAP_PRUNE_KILLS", "6"))


def _start(path: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SITESNAP_")}
    env.update(SITESNAP_REPOSITORY=str(path), SITESNAP_PASSWORD=PASSWORD)
    return subprocess.Popen([SITESNAP, "prune", "--max-unused", "0%"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)


def _fresh(template: Workload, path: Path) -> dict[str, dict[str, bytes]]:
    shutil.rmtree(path, ignore_errors=True)
    shutil.copytree(template.path, path)
    return forget_first(Workload(path, dict(template.expected), list(template.order)))


def test_prune_killed_at_random_moments(workload_template: Workload, tmp_path: Path) -> None:
    path = tmp_path / "repo"
    _fresh(workload_template, path)
    started = time.monotonic()
    proc = _start(path)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()
    duration = time.monotonic() - started
    rng = random.Random(int(os.environ.get("SITESNAP_CRASH_SEED", "1")))
    for _ in range(KILLS):
        remaining = _fresh(workload_template, path)
        proc = _start(path)
        time.sleep(rng.uniform(0.3, 1.0) * duration)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        # The dead process's lock is stale (its pid is gone) and is cleared by the next lock taker.
        assert_intact(path, remaining, tmp_path / "scratch")
        with open_repo(path) as repo:
            prune(repo, EVERYTHING)
            assert prune(repo, EVERYTHING).empty
        assert_intact(path, remaining, tmp_path / "scratch")
