"""SIGKILL the capture several times while the ledger writes: every restore is still exact."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from sitesnap.engine.replay import source_timelines
from sitesnap.repository.repository import Repository

from . import ledger
from .conftest import PgCluster
from .test_restore_at import capture_while, check_exact, pick_times, source

CHILD = Path(__file__).with_name("capture_child.py")


def _run_and_kill(repo_path: Path, password: str, cluster: PgCluster, spool: Path, seconds: float) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen([sys.executable, str(CHILD), str(repo_path), password, cluster.url("bank"), "bank",
                              str(spool)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert child.stdout is not None
    assert child.stdout.readline().strip() == b"started", child.stderr.read() if child.stderr else b""
    time.sleep(seconds)
    child.send_signal(signal.SIGKILL)
    child.wait()


def test_a_killed_capture_resumes_and_restores_stay_exact(
        pg_cluster: PgCluster, make_repo: Callable[..., Repository], tmp_path: Path,
        password: str) -> None:
    pg_cluster.create_database("bank")
    ledger.create(pg_cluster.url("bank"))
    repo_path = tmp_path / "repo"
    repo = make_repo(repo_path)
    spool = tmp_path / "spool"
    work = ledger.Ledger(pg_cluster.url("bank")).start()
    try:
        for seconds in (2.0, 1.3, 2.5):
            _run_and_kill(repo_path, password, pg_cluster, spool, seconds)
            time.sleep(0.5)  # the ledger writes while no capture runs
        capture_while(repo, source(pg_cluster, "bank"), spool, 2.0, during=work.stop)
    finally:
        work.halt.set()
    repo = Repository.open(repo.storage, password)
    with repo.lock(operation="timeline"):
        timeline = source_timelines(repo)["bank"]
    assert len(timeline.generations) == 1, [g.to_json() for g in timeline.generations]
    assert not timeline.generations[0].broken
    truth = ledger.committed(pg_cluster.url("bank"))
    times = pick_times([c for _a, c in truth.values()], 3)
    for n, at in enumerate(times):
        check_exact(pg_cluster, repo, source(pg_cluster, "bank"), at, truth, f"bank_at_{n}")
