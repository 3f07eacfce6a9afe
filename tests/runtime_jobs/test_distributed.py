"""Distributed mode against the real Redis: scheduled jobs run on Celery worker processes,
progress and records land in the catalog, a worker killed mid-backup leaves a failed run and a
consistent repository, and the next run succeeds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from runtime_sites import REDIS_DB, REDIS_URL

from sitesnap.catalog import open_catalog
from sitesnap.runtime.celery_app import enqueue_job
from sitesnap.runtime.jobs import placeholder_id, reap_stale_runs, run_job
from sitesnap.runtime.scheduler import SiteScheduler

SITESNAP = str(Path(os.sys.executable).with_name("sitesnap"))
MINUTELY = '[schedule]\nincremental = "* * * * *"\nfull = "off"\nprune = "off"\ncheck = "off"\ndrill = "off"\n'


@pytest.fixture
def redis_db() -> Iterator[redis.Redis]:
    client = redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(config: Path, name: str) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SITESNAP_")}
        log = tmp_path / f"{name}.log"
        proc = subprocess.Popen([SITESNAP, "-c", str(config), "worker", "--name", f"{name}@test"], env=env,
                                stdout=log.open("wb"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        started.append(proc)
        deadline = time.monotonic() + 30
        while "ready." not in log.read_text(errors="replace"):
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_for(catalog, run_id: str, statuses: tuple[str, ...], timeout: float = 60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = catalog.get_run(run_id)
        if run is not None and run.status in statuses:
            return run
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} not {statuses} after {timeout}s: {catalog.get_run(run_id)}")


def test_scheduled_backup_runs_on_workers(make_site, redis_db, workers) -> None:
    site = make_site("blog", broker=REDIS_URL, schedule=MINUTELY, limit_upload="1MiB/s", payload=3 << 20)
    cfg = site.cfg
    workers(site.config_path, "w1")
    workers(site.config_path, "w2")
    catalog = open_catalog(cfg.runtime.catalog_url)
    fire_log = cfg.runtime.state_dir / "schedule-blog.json"
    fire_log.write_text(json.dumps({"incremental": (datetime.now(UTC) - timedelta(minutes=3)).isoformat()}))
    sched = SiteScheduler(cfg, catalog)
    try:
        assert sched.start() == ["incremental"]
        deadline = time.monotonic() + 10
        while not catalog.list_runs(site="blog").total:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        sched.shutdown()
    scheduled = catalog.list_runs(site="blog").items[0]
    assert scheduled.triggered_by == "scheduler" and scheduled.status in ("queued", "running", "completed")
    seen_progress = False
    deadline = time.monotonic() + 60
    while (run := catalog.get_run(scheduled.id)).status != "completed":
        assert run.status in ("queued", "running") and time.monotonic() < deadline, run
        seen_progress = seen_progress or run.progress.get("bytes_done", 0) > 0
        time.sleep(0.1)
    assert seen_progress, "progress of the running backup never reached the catalog"
    assert run.worker in ("w1@test", "w2@test") and run.pid != os.getpid()
    assert run.progress["finished"] is True
    record = catalog.list_backup_records(site="blog").items[0]
    assert record.backup_id == run.result["snapshot_id"] and record.run_id == run.id and record.status == "completed"
    # Two workers share the queue: a slow backup and a check run at the same time, one on each.
    (site.uploads / "more.bin").write_bytes(os.urandom(2 << 20))
    slow = enqueue_job(cfg, "backup", {"type": "incremental"}, catalog=catalog, triggered_by="api")
    _wait_for(catalog, slow, ("running",))
    check = enqueue_job(cfg, "check", {}, catalog=catalog, triggered_by="api")
    checked = _wait_for(catalog, check, ("completed", "failed"))
    assert checked.status == "completed"
    assert catalog.get_run(slow).status == "running"
    done = _wait_for(catalog, slow, ("completed", "failed"))
    assert done.status == "completed"
    assert {checked.worker, done.worker} == {"w1@test", "w2@test"}
    catalog.close()


def test_killed_worker_leaves_a_failed_run_and_a_consistent_repository(make_site, redis_db, workers) -> None:
    site = make_site("blog", broker=REDIS_URL, limit_upload="1MiB/s", payload=6 << 20)
    cfg = site.cfg
    catalog = open_catalog(cfg.runtime.catalog_url)
    victim = workers(site.config_path, "doomed")
    run_id = enqueue_job(cfg, "backup", {"type": "full"}, catalog=catalog, triggered_by="scheduler")
    deadline = time.monotonic() + 60
    while not (run := catalog.get_run(run_id)).progress.get("phase"):
        assert run.status in ("queued", "running") and time.monotonic() < deadline, run
        time.sleep(0.05)
    time.sleep(1.5)  # the 6 MiB take about 5 s through the 1 MiB/s limit: kill in the middle
    assert catalog.get_run(run_id).status == "running"
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    assert catalog.get_run(run_id).status == "running"
    reaped = reap_stale_runs(catalog, site="blog")
    assert [r.id for r in reaped] == [run_id]
    failed = catalog.get_run(run_id)
    assert failed.status == "failed" and failed.error_code == "interrupted"
    assert f"process {victim.pid}" in failed.error_message
    assert catalog.get_backup_record(placeholder_id(run_id)).status == "failed"
    with site.open_repo() as repo:
        assert repo.snapshot_ids() == []
    checked = run_job("check", cfg, {"read_data": True}, catalog=catalog)
    assert checked.ok, checked.error
    # The next run, on a new worker, succeeds; the repository still checks clean.
    workers(site.config_path, "fresh")
    again = enqueue_job(cfg, "backup", {"type": "full"}, catalog=catalog, triggered_by="scheduler")
    finished = _wait_for(catalog, again, ("completed", "failed"), timeout=90)
    assert finished.status == "completed", finished.error_message
    assert finished.result["check"]["ok"] is True
    assert run_job("check", cfg, {"read_data": True}, catalog=catalog).ok
    assert catalog.list_backup_records(site="blog", status="completed").total == 1
    catalog.close()


def test_unreachable_broker_is_one_clear_line(make_site, run_cli) -> None:
    site = make_site("blog", broker="redis://127.0.0.1:1/0")
    for args in (("scheduler", "--once", "incremental"), ("worker",), ("scheduler",)):
        result = run_cli("-c", str(site.config_path), *args, password=None, timeout=60)
        assert result.code == 25, result.stderr
        first = result.stderr.splitlines()[0]
        assert first.startswith("sitesnap: error: Cannot reach the job broker: redis://127.0.0.1:1/0")
        assert "Traceback" not in result.stderr
    catalog = open_catalog(site.cfg.runtime.catalog_url)
    runs = catalog.list_runs(site="blog").items
    assert len(runs) == 1 and runs[0].status == "failed" and runs[0].error_code == "broker"
    catalog.close()


def test_a_task_changed_in_the_broker_is_refused(make_site, redis_db) -> None:
    """Redis carries the job's arguments; the worker runs only what the catalog recorded as queued."""
    from types import SimpleNamespace

    from sitesnap.runtime.celery_app import run_task

    site = make_site("blog", broker=REDIS_URL)
    cfg = site.cfg
    catalog = open_catalog(cfg.runtime.catalog_url)
    task = SimpleNamespace(request=SimpleNamespace(hostname="w@test"))
    path = str(Path(cfg.path).absolute())
    queued = enqueue_job(cfg, "check", {}, catalog=catalog, triggered_by="api")  # no worker: it stays queued
    changed = run_task(task, path, "restore", {"snapshot": "latest", "yes": True}, queued, "api")
    assert "does not match" in changed["skipped"]
    run = catalog.get_run(queued)
    assert run.status == "failed" and "does not match" in (run.error_message or "")
    honest = enqueue_job(cfg, "check", {}, catalog=catalog, triggered_by="api")
    assert run_task(task, path, "check", {}, honest, "api")["status"] == "completed"
    catalog.close()
