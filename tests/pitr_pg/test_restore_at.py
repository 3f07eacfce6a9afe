"""Capture a PostgreSQL cluster's WAL under a 4-client ledger, then restore it to several seconds."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from sitesnap.engine.pgpitr import open_capture, restore_at
from sitesnap.errors import RestoreError
from sitesnap.repository.repository import Repository

from . import ledger
from .conftest import PgCluster

CLEAR = timedelta(milliseconds=3)  # no commit this close to a chosen T (WAL order vs commit-time order)


def source(cluster: PgCluster, database: str) -> SimpleNamespace:
    return SimpleNamespace(name=database, type="postgres", url=cluster.url(database), password=None,
                           continuous=True)


def capture_while(repo: Repository, cfg: SimpleNamespace, spool: Path, seconds: float,
                  during: Callable[[], object] | None = None) -> int:
    """Run a capture for ``seconds`` (ticks every 0.2 s); returns the commits it stored."""
    cap = open_capture(repo, cfg, spool=spool)
    stored = 0
    with repo.lock(operation="capture"):
        repo.load_index()
        try:
            cap.start()
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                stored += cap.tick()
                time.sleep(0.2)
            if during is not None:
                during()
            time.sleep(0.5)
            stored += cap.tick()
        finally:
            cap.close()
    return stored


def pick_times(commits: list[datetime], count: int) -> list[datetime]:
    """``count`` times spread over the commits, each at least CLEAR away from every commit."""
    commits = sorted(commits)
    out: list[datetime] = []
    for k in range(1, count + 1):
        i = len(commits) * k // (count + 1)
        for j in range(i, len(commits) - 1):
            gap_start, gap_end = commits[j], commits[j + 1]
            if gap_end - gap_start > 2 * CLEAR:
                out.append(gap_start + (gap_end - gap_start) / 2)
                break
    return out


def check_exact(cluster: PgCluster, repo: Repository, cfg: SimpleNamespace, at: datetime,
                truth: dict[int, tuple[datetime, datetime]], target_db: str) -> None:
    cluster.create_database(target_db)
    with repo.lock(operation="restore"):
        repo.load_index()
        result = restore_at(repo, cfg, at, cluster.url(target_db))
    got = ledger.ids(cluster.url(target_db))
    want = {i for i, (_at, commit) in truth.items() if commit <= at}
    assert got == want, f"at {at}: {len(got - want)} extra, {len(want - got)} missing"
    assert all(truth[i][0] <= at for i in got)  # nothing stamped after T
    assert result.integrity == "ok"


def test_restore_to_several_seconds_is_exact(pg_cluster: PgCluster, make_repo: Callable[..., Repository],
                                             tmp_path: Path) -> None:
    pg_cluster.create_database("shop")
    ledger.create(pg_cluster.url("shop"))
    repo = make_repo()
    cfg = source(pg_cluster, "shop")
    work = ledger.Ledger(pg_cluster.url("shop")).start()
    try:
        stored = capture_while(repo, cfg, tmp_path / "spool", 6.0, during=work.stop)
    finally:
        work.halt.set()
    truth = ledger.committed(pg_cluster.url("shop"))
    assert stored > 100 and len(truth) > 100
    times = pick_times([c for _a, c in truth.values()], 4)
    assert len(times) == 4
    for n, at in enumerate(times):
        check_exact(pg_cluster, repo, cfg, at, truth, f"shop_at_{n}")


def test_a_time_after_the_capture_is_refused_before_anything_is_touched(
        pg_cluster: PgCluster, make_repo: Callable[..., Repository], tmp_path: Path) -> None:
    pg_cluster.create_database("late")
    ledger.create(pg_cluster.url("late"))
    repo = make_repo()
    cfg = source(pg_cluster, "late")
    capture_while(repo, cfg, tmp_path / "spool", 1.0)
    with repo.lock(operation="restore"), pytest.raises(RestoreError, match="after the newest"):
        repo.load_index()
        restore_at(repo, cfg, datetime.now().astimezone() + timedelta(hours=1), pg_cluster.url("late_copy"))


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def test_a_second_base_of_an_unchanged_cluster_adds_little_and_datadir_keeps_the_cluster(
        pg_cluster: PgCluster, make_repo: Callable[..., Repository], tmp_path: Path) -> None:
    pg_cluster.create_database("stock")
    ledger.create(pg_cluster.url("stock"))
    with pg_cluster.connect("stock") as conn:
        conn.execute("INSERT INTO ledger (client, n) SELECT 0, g FROM generate_series(1, 20000) g")
    repo_path = tmp_path / "repo"
    repo = make_repo(repo_path)
    cfg = source(pg_cluster, "stock")
    cap = open_capture(repo, cfg, spool=tmp_path / "spool")
    with repo.lock(operation="capture"):
        repo.load_index()
        try:
            before = _size(repo_path)
            cap.start()
            first = _size(repo_path) - before
            with pg_cluster.connect("stock") as conn:
                conn.execute("INSERT INTO ledger (client, n) VALUES (1, 1)")
            time.sleep(0.5)
            cap.tick()
            before = _size(repo_path)
            cap.new_generation("a second base")
            second = _size(repo_path) - before
            with pg_cluster.connect("stock") as conn:
                conn.execute("INSERT INTO ledger (client, n) VALUES (1, 2)")
            time.sleep(0.5)
            cap.tick()
        finally:
            cap.close()
    print(f"first base {first} bytes, second base {second} bytes")
    assert second < first * 0.5
    truth = ledger.committed(pg_cluster.url("stock"))
    last = max(c for _a, c in truth.values())
    target = tmp_path / "recovered"
    with repo.lock(operation="restore"):
        repo.load_index()
        result = restore_at(repo, cfg, last, f"datadir:{target}")
    assert result.target == str(target)
    assert (target / "PG_VERSION").read_text().strip() == "15"
    assert not (target / "recovery.signal").exists()  # promoted
