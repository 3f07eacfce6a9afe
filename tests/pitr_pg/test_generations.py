"""A capture that cannot continue starts a new generation; a time in the gap is refused.

Dropping the slot alone is not a gap: a new slot reserves from the last
checkpoint's redo point, which may still precede the stored position, and
then the capture rightly continues.  A checkpoint after the drop moves it on.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from sitesnap.capture.pgserver import PgServer, slot_name
from sitesnap.engine.pgcapture import server_address
from sitesnap.engine.pgpitr import restore_at
from sitesnap.engine.replay import source_timelines, to_datetime
from sitesnap.errors import RestoreError
from sitesnap.repository.repository import Repository

from . import ledger
from .conftest import PgCluster
from .test_restore_at import capture_while, check_exact, pick_times, source


def test_lost_wal_starts_a_new_generation_and_the_gap_is_refused(
        pg_cluster: PgCluster, make_repo: Callable[..., Repository], tmp_path: Path) -> None:
    pg_cluster.create_database("gap")
    ledger.create(pg_cluster.url("gap"))
    repo = make_repo()
    cfg = source(pg_cluster, "gap")
    work = ledger.Ledger(pg_cluster.url("gap")).start()
    try:
        capture_while(repo, cfg, tmp_path / "spool", 1.5)
        server = PgServer(server_address(cfg))
        server.drop_slot(slot_name("gap", repo.config.id))
        server.close()
        with pg_cluster.connect() as conn:  # the WAL after the stored position is no longer kept
            conn.execute("SELECT pg_switch_wal()")
            conn.execute("CHECKPOINT")
        shutil.rmtree(tmp_path / "spool")
        time.sleep(1.0)  # commits nobody captures
        capture_while(repo, cfg, tmp_path / "spool", 1.5, during=work.stop)
    finally:
        work.halt.set()
    with repo.lock(operation="restore"):
        repo.load_index()
        timeline = source_timelines(repo)["gap"]
        assert len(timeline.generations) == 2
        (gap_from, gap_to), = timeline.gaps()
        in_gap = to_datetime((gap_from + gap_to) // 2)
        with pytest.raises(RestoreError, match="in a gap"):
            restore_at(repo, cfg, in_gap, pg_cluster.url("gap_copy"))
    truth = ledger.committed(pg_cluster.url("gap"))
    second = [c for _a, c in truth.values() if c > to_datetime(gap_to)]
    for n, at in enumerate(pick_times(second, 1)):
        check_exact(pg_cluster, repo, cfg, at, truth, f"gap_at_{n}")
