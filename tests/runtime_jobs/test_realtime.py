"""Realtime triggers: a burst makes one ``realtime`` snapshot, after the quiet period."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from sitesnap.catalog import open_catalog
from sitesnap.runtime import realtime
from sitesnap.runtime.scheduler import SiteScheduler

QUIET = '[schedule]\nincremental = "off"\nfull = "off"\nprune = "off"\ncheck = "off"\ndrill = "off"\n'
T0 = datetime(2026, 5, 1, 12, tzinfo=UTC)


@pytest.fixture
def site(make_site):
    return make_site("shop", schedule=QUIET)


def test_debounce_on_a_fake_clock(site) -> None:
    cfg = site.cfg
    for seconds, reason in ((0, "post 1"), (10, "post 2"), (20, "settings")):
        realtime.trigger(cfg, reason, now=T0 + timedelta(seconds=seconds))
    assert realtime.pending(cfg).count == 3
    assert realtime.claim_due(cfg, window=60, now=T0 + timedelta(seconds=50)) is None
    assert realtime.claim_due(cfg, window=60, now=T0 + timedelta(seconds=79)) is None
    batch = realtime.claim_due(cfg, window=60, now=T0 + timedelta(seconds=80))
    assert batch is not None and batch.count == 3 and batch.reasons == ["post 1", "post 2", "settings"]
    assert realtime.claim_due(cfg, window=60, now=T0 + timedelta(hours=1)) is None
    assert realtime.pending(cfg) is None
    # A steady stream cannot postpone the snapshot past max_delay.
    claims = []
    for i in range(25):
        now = T0 + timedelta(seconds=30 * i)
        realtime.trigger(cfg, now=now)
        batch = realtime.claim_due(cfg, window=60, max_delay=600, now=now)
        if batch is not None:
            claims.append((i, batch.count))
    assert claims == [(20, 21)]  # 600 s after the first trigger; the last four start a new batch
    assert realtime.pending(cfg).count == 4


def test_a_burst_from_many_threads_makes_one_snapshot_via_the_scheduler(site) -> None:
    cfg = site.cfg
    catalog = open_catalog(cfg.runtime.catalog_url)
    sched = SiteScheduler(cfg, catalog, realtime_window=2.0, realtime_poll=0.2)
    sched.start()
    try:
        threads = [threading.Thread(target=realtime.trigger, args=(cfg, f"order {i}")) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        time.sleep(0.3)
        assert catalog.list_runs(site="shop").total == 0  # still inside the quiet period
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not catalog.list_runs(site="shop", status="completed").total:
            time.sleep(0.2)
        time.sleep(1.5)  # no second backup follows
    finally:
        sched.shutdown()
    runs = catalog.list_runs(site="shop").items
    assert len(runs) == 1 and runs[0].status == "completed" and runs[0].triggered_by == "scheduler"
    assert "order 0" in runs[0].log and "order 7" in runs[0].log
    records = catalog.list_backup_records(site="shop").items
    assert [r.backup_type for r in records] == ["realtime"]
    assert records[0].metadata["tags"] == ["realtime"]
    with site.open_repo() as repo:
        snaps = repo.load_snapshots()
    assert [s.type for s in snaps] == ["realtime"]
    catalog.close()


def test_cli_trigger_then_wait(site, run_cli) -> None:
    args = ("-c", str(site.config_path), "trigger", "realtime")
    for reason in ("deploy", "migration"):
        quick = run_cli(*args, "--reason", reason, password=None)
        assert quick.code == 0, quick.stderr
    assert "2 trigger(s) pending" in quick.stdout
    waited = run_cli(*args, "--reason", "cache flush", "--wait", "--window", "1", "--json", password=None)
    assert waited.code == 0, waited.stderr
    catalog = open_catalog(site.cfg.runtime.catalog_url)
    runs = catalog.list_runs(site="shop").items
    assert len(runs) == 1 and runs[0].status == "completed"
    assert "deploy; migration; cache flush" in runs[0].log
    assert catalog.list_backup_records(site="shop", type="realtime").total == 1
    assert realtime.pending(site.cfg) is None
    catalog.close()
