"""Capture a standby, promote it: the new timeline starts a new generation, restores on both sides stay exact."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sitesnap.engine.pgpitr import PgCapture, open_capture
from sitesnap.engine.replay import source_timelines, to_datetime
from sitesnap.repository.repository import Repository

from . import ledger
from .conftest import BIN, PgCluster, _as_postgres, _free_port
from .test_restore_at import check_exact, pick_times, source


def _standby(primary: PgCluster, root: Path) -> PgCluster:
    shutil.chown(root, "postgres", "postgres")
    standby = PgCluster(root, _free_port())
    subprocess.run(_as_postgres(str(BIN / "pg_basebackup"), "-D", str(standby.data), "-R", "-X", "stream",
                                "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres", "--checkpoint=fast"),
                   check=True, capture_output=True)
    with open(standby.data / "postgresql.auto.conf", "a") as fh:
        fh.write(f"port = {standby.port}\nunix_socket_directories = '{root}'\n")
    standby.pg_ctl("-l", str(root / "server.log"), "-w", "-t", "60", "start")
    return standby


def test_promotion_starts_a_generation_and_both_sides_restore_exactly(
        pg_cluster: PgCluster, make_repo: Callable[..., Repository], tmp_path: Path) -> None:
    pg_cluster.create_database("fork")
    ledger.create(pg_cluster.url("fork"))
    root = Path(tempfile.mkdtemp(prefix="sitesnap-pitr-standby-"))  # a directory the postgres user can reach
    root.chmod(0o755)
    standby = _standby(pg_cluster, root)
    try:
        repo = make_repo()
        cfg = source(standby, "fork")
        cap = open_capture(repo, cfg, spool=tmp_path / "spool")
        with repo.lock(operation="capture"):
            repo.load_index()
            try:
                cap.start()
                work = ledger.Ledger(pg_cluster.url("fork")).start()
                _tick_for(cap, 3.0)
                work.stop()
                time.sleep(1.0)  # the standby replays the last of it
                _tick_for(cap, 1.0)
                standby.pg_ctl("-w", "promote")
                work = ledger.Ledger(standby.url("fork")).start()
                _tick_for(cap, 4.0)
                work.stop()
                time.sleep(0.5)
                _tick_for(cap, 1.0)
            finally:
                cap.close()
            generations = source_timelines(repo)["fork"].generations
        assert len(generations) == 2
        assert "timeline 2" in cap.stats.reasons[-1]
        truth = ledger.committed(standby.url("fork"))
        first = [c for (_a, c) in truth.values() if c <= to_datetime(generations[0].newest_ns)]
        second = [c for (_a, c) in truth.values() if c >= to_datetime(generations[1].oldest_ns)]
        for n, at in enumerate(pick_times(first, 1) + pick_times(second, 1)):
            check_exact(pg_cluster, repo, cfg, at, truth, f"fork_at_{n}")
    finally:
        standby.pg_ctl("-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


def _tick_for(cap: PgCapture, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        cap.tick()
        time.sleep(0.2)
