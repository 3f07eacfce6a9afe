"""The embedded scheduler: trigger computation on a fake clock, catch-up after downtime,
one scheduler per site, and 90 simulated days whose survivors are exactly what the policy keeps."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from runtime_sites import PASSWORD, write_site

from sitesnap.catalog import open_catalog
from sitesnap.config import Schedule
from sitesnap.engine.forget import plan_forget, policy_from_config
from sitesnap.engine.site import backup_site
from sitesnap.errors import AlreadyRunning
from sitesnap.format.crypto import FAST_TEST_KDF
from sitesnap.repository.repository import Repository
from sitesnap.runtime.scheduler import SiteScheduler, build_triggers, fire_times, job_request, missed_jobs
from sitesnap.storage.memory import MemoryStorage

T0 = datetime(2026, 1, 1, tzinfo=UTC)  # a Thursday


def _defaults() -> Schedule:
    return Schedule.model_validate({})


def test_default_schedule_fires_as_the_seed_says() -> None:
    triggers = build_triggers(_defaults(), UTC)
    week = list(fire_times(triggers, T0, T0 + timedelta(days=7)))
    by_job: dict[str, list[datetime]] = {}
    for when, job in week:
        by_job.setdefault(job, []).append(when)
    assert [w.hour for w in by_job["incremental"][:5]] == [0, 6, 12, 18, 0]
    assert len(by_job["incremental"]) == 28
    assert by_job["full"] == [datetime(2026, 1, 4, 2, tzinfo=UTC)]  # Sunday 02:00
    assert len(by_job["prune"]) == 7 and {w.hour for w in by_job["prune"]} == {3}
    assert by_job["drill"] == [datetime(2026, 1, 3, 5, tzinfo=UTC)]  # Saturday 05:00
    assert [w for w, _ in week] == sorted(w for w, _ in week)
    assert job_request("prune", _defaults()) == ("forget", {"prune": True})
    assert job_request("check", _defaults())[1]["read_data"] is True


def test_missed_jobs_within_the_grace_window_run_once() -> None:
    triggers = build_triggers(_defaults(), UTC)
    grace = timedelta(hours=1)
    last = {"incremental": datetime(2026, 1, 1, 0, 0, 5, tzinfo=UTC), "prune": datetime(2026, 1, 1, 3, tzinfo=UTC)}
    # Down from 00:10 to 06:30: the 06:00 incremental is 30 min late, prune (03:00) fired before we stopped.
    assert missed_jobs(triggers, last, datetime(2026, 1, 1, 6, 30, tzinfo=UTC), grace) == ["incremental"]
    # Down until 07:30: 06:00 is beyond the grace window; it is not run late, the 12:00 fire will do.
    assert missed_jobs(triggers, last, datetime(2026, 1, 1, 7, 30, tzinfo=UTC), grace) == []
    # Down for two days: many fires missed, prune's last one 3.5 hours ago, incremental's 30 min ago: once each.
    now = datetime(2026, 1, 3, 6, 30, tzinfo=UTC)
    assert missed_jobs(triggers, last, now, timedelta(hours=4)) == ["incremental", "prune"]
    # A job never fired before has missed nothing.
    assert missed_jobs(triggers, {}, now, grace) == []


@pytest.fixture
def minutely(make_site):
    return make_site("minutely", schedule='[schedule]\nincremental = "* * * * *"\nfull = "off"\nprune = "off"\n'
                                          'check = "off"\ndrill = "off"\n')


def test_scheduler_catches_up_runs_jobs_and_is_alone(minutely, run_cli) -> None:
    cfg = minutely.cfg
    fire_log = cfg.runtime.state_dir / "schedule-minutely.json"
    fire_log.parent.mkdir(parents=True, exist_ok=True)
    fire_log.write_text(json.dumps({"incremental": (datetime.now(UTC) - timedelta(minutes=5)).isoformat()}))
    catalog = open_catalog(cfg.runtime.catalog_url)
    sched = SiteScheduler(cfg, catalog)
    try:
        assert sched.start() == ["incremental"]
        with pytest.raises(AlreadyRunning):
            SiteScheduler(cfg, catalog).start()
        second = run_cli("-c", str(minutely.config_path), "scheduler", password=None)
        assert second.code == 26, second.stderr
        assert "a scheduler for site 'minutely' is running" in second.stderr
        assert "Traceback" not in second.stderr
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            done = catalog.list_runs(site="minutely", status="completed").items
            if done:
                break
            time.sleep(0.2)
        assert done and done[0].triggered_by == "scheduler" and done[0].kind == "backup"
        assert catalog.list_backup_records(site="minutely", type="incremental").total >= 1
        nxt = sched.next_fire_times()["incremental"]
        assert nxt is not None and nxt > datetime.now(UTC) - timedelta(seconds=1)
    finally:
        sched.shutdown()
        catalog.close()
    marked = datetime.fromisoformat(json.loads(fire_log.read_text())["incremental"])
    assert datetime.now(UTC) - marked < timedelta(minutes=2)
    # Once stopped, the lock is free for the next scheduler.
    again = SiteScheduler(cfg, open_catalog(cfg.runtime.catalog_url))
    again.start()
    again.shutdown()


def test_ninety_days_keep_exactly_what_the_policy_keeps(make_site) -> None:
    """Default schedule and retention, a fake clock, real backups into a memory repository."""
    site = make_site("sim")
    cfg = site.cfg
    repo = Repository.init(MemoryStorage(), PASSWORD, kdf=FAST_TEST_KDF)
    policy = policy_from_config(cfg.retention, "UTC")
    end = T0 + timedelta(days=90)
    counts = {"incremental": 0, "full": 0, "prune": 0}
    for when, job in fire_times(build_triggers(cfg.schedule, UTC), T0, end):
        if job in ("incremental", "full"):
            (site.uploads / "index.html").write_text(f"edited at {when.isoformat()}\n")
            backup_site(repo, cfg, snapshot_type=job, now=when, hostname="web1")
        elif job == "prune":
            plan_forget(repo, policy=policy, site="sim", now=when).execute()
        else:
            continue
        counts[job] += 1
    assert counts == {"incremental": 360, "full": 13, "prune": 90}
    survivors = sorted((s.type, s.time) for s in repo.load_snapshots())
    # The last forget ran on 2026-03-31 03:00; ages count from the group's newest snapshot then (00:00).
    anchor = datetime(2026, 3, 31, tzinfo=UTC)
    incrementals = [T0 + timedelta(hours=6 * i) for i in range(90 * 4)]
    expected = sorted(
        [("incremental", t) for t in incrementals if t > anchor - timedelta(days=30)]
        + [("full", datetime(2026, 1, 4, 2, tzinfo=UTC) + timedelta(weeks=w)) for w in range(13)]
    )
    assert expected[0] == ("full", datetime(2026, 1, 4, 2, tzinfo=UTC))
    assert sum(1 for kind, _ in expected if kind == "incremental") == 123
    assert survivors == expected
    repo.close()


def test_one_scheduler_per_site_across_state_directories(tmp_path, run_cli) -> None:
    shared = f"sqlite:///{tmp_path / 'shared-catalog.db'}"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = write_site(tmp_path / "a", "blog", catalog_url=shared)
    second = write_site(tmp_path / "b", "blog", catalog_url=shared)
    assert first.cfg.runtime.state_dir != second.cfg.runtime.state_dir
    catalog = open_catalog(shared)
    sched = SiteScheduler(first.cfg, catalog)
    try:
        sched.start()
        with pytest.raises(AlreadyRunning, match="a scheduler for site 'blog' is running"):
            SiteScheduler(second.cfg, catalog).start()
        other = run_cli("-c", str(second.config_path), "scheduler", password=None, timeout=60)
        assert other.code == 26 and "a scheduler for site 'blog' is running" in other.stderr, other.stderr
    finally:
        sched.shutdown()
    # Released on shutdown: the other configuration's scheduler may start now.
    later = SiteScheduler(second.cfg, catalog)
    later.start()
    later.shutdown()
    catalog.close()
