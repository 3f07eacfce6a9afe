"""run_job: every operation recorded the same way, with records, progress, errors and locks."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta

import pytest

from sitesnap.catalog import open_catalog
from sitesnap.errors import RepositoryLocked, SitesnapError, UsageError
from sitesnap.progress import Progress
from sitesnap.runtime.jobs import FileLock, LockBusy, placeholder_id, reap_stale_runs, run_job, run_lock


@pytest.fixture
def site(make_site):
    return make_site("blog")


@pytest.fixture
def catalog(site):
    cat = open_catalog(site.cfg.runtime.catalog_url)
    yield cat
    cat.close()


def test_backup_is_recorded_with_its_snapshot_record(site, catalog) -> None:
    events: list[Progress] = []
    result = run_job("backup", site.cfg, {"type": "incremental", "tags": ["nightly"]}, catalog=catalog,
                     triggered_by="cli", sink=events.append)
    assert result.ok and result.error is None
    run = catalog.get_run(result.run_id)
    assert run is not None
    assert (run.kind, run.status, run.site, run.repository, run.triggered_by) == (
        "backup", "completed", "blog", "local", "cli")
    assert run.pid == os.getpid() and run.host and run.started_at and run.finished_at
    assert run.progress["finished"] is True and "heartbeat" in run.progress
    assert "snapshot" in run.log and run.log.rstrip().endswith("completed")
    assert events and events[-1].finished
    snap_id = result.result["snapshot_id"]
    with site.open_repo() as repo:
        assert repo.snapshot_ids() == [snap_id]
    records = catalog.list_backup_records(site="blog").items
    assert [r.backup_id for r in records] == [snap_id]
    rec = records[0]
    assert (rec.backup_type, rec.status, rec.encryption_enabled, rec.run_id) == (
        "incremental", "completed", True, result.run_id)
    assert rec.file_size and rec.file_size > 4096
    assert rec.compression_ratio and rec.dedup_ratio
    assert rec.storage_providers["local"]["ok"] is True
    assert rec.metadata["tags"] == ["nightly"]
    assert rec.metadata["row_counts"] == {"db": 25}
    assert {s["name"] for s in rec.metadata["sources"]} == {"uploads", "db"}
    assert catalog.get_backup_record(placeholder_id(result.run_id)) is None
    audit = catalog.list_audit(action="run.backup").items
    assert audit and audit[0].details["run_id"] == result.run_id


def test_failed_backup_records_error_and_failed_record(site, catalog) -> None:
    site.database.unlink()
    result = run_job("backup", site.cfg, {}, catalog=catalog, triggered_by="scheduler")
    assert result.status == "failed"
    assert result.error is not None and result.error.code == "source"
    run = catalog.get_run(result.run_id)
    assert run is not None and run.status == "failed"
    assert run.error_code == "source" and "does not exist" in (run.error_message or "")
    record = catalog.get_backup_record(placeholder_id(result.run_id))
    assert record is not None and record.status == "failed"
    assert record.metadata["error"]["code"] == "source"
    with pytest.raises(SitesnapError) as raised:
        result.raise_for_error()
    assert raised.value.exit_code == 17


def test_unknown_kind_is_refused_before_recording(site, catalog) -> None:
    with pytest.raises(UsageError):
        run_job("defragment", site.cfg, {}, catalog=catalog)
    assert catalog.list_runs().total == 0


def test_one_operation_at_a_time_per_repository(site, catalog) -> None:
    held = run_lock(site.cfg, "local").acquire()
    try:
        result = run_job("backup", site.cfg, {}, catalog=catalog)
    finally:
        held.release()
    assert result.status == "cancelled"
    assert isinstance(result.error, RepositoryLocked)
    assert f"pid {os.getpid()}" in result.error.message
    assert catalog.list_backup_records().total == 0
    # Checks only read: they run beside a holder of the run lock.
    with run_lock(site.cfg, "local"):
        assert run_job("check", site.cfg, {}, catalog=catalog).ok
    # After release, a waiting backup gets its turn.
    lock = run_lock(site.cfg, "local").acquire()
    timer = threading.Timer(0.5, lock.release)
    timer.start()
    assert run_job("backup", site.cfg, {}, catalog=catalog, lock_wait=10).ok
    timer.join()


def test_file_lock_is_released_when_its_process_dies(tmp_path) -> None:
    path = tmp_path / "x.lock"
    child = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from sitesnap.runtime.jobs import FileLock\n"
        f"FileLock(Path({str(path)!r})).acquire()\n"
        "print('held', flush=True)\n"
        "time.sleep(60)\n")], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        with pytest.raises(LockBusy) as busy:
            FileLock(path).acquire()
        assert busy.value.holder["pid"] == child.pid
    finally:
        child.kill()
        child.wait()
    with FileLock(path) as lock:
        assert lock.held


def test_restore_check_and_forget_jobs(site, catalog) -> None:
    first = run_job("backup", site.cfg, {"type": "full"}, catalog=catalog)
    assert first.ok and first.result["check"]["ok"] is True
    (site.uploads / "index.html").write_text("defaced\n")
    restored = run_job("restore", site.cfg, {"snapshot": "latest", "sources": ["uploads"]}, catalog=catalog,
                       triggered_by="api", actor="alice")
    assert restored.ok, restored.error
    assert (site.uploads / "index.html").read_text() == "<h1>blog</h1>\n"
    safety = restored.result["safety_snapshot"]
    assert safety and catalog.get_backup_record(safety).backup_type == "pre-restore"
    assert catalog.list_audit(actor="alice").items[0].action == "run.restore"
    checked = run_job("check", site.cfg, {"read_data": True}, catalog=catalog)
    assert checked.ok and checked.result["packs_read"] > 0
    # An incremental 40 days older than the newest snapshot is past its 30 days.
    old = run_job("backup", site.cfg, {"time": (datetime.now(UTC) - timedelta(days=40)).isoformat()},
                  catalog=catalog)
    assert old.ok and catalog.get_backup_record(old.result["snapshot_id"]) is not None
    forgot = run_job("forget", site.cfg, {"prune": True}, catalog=catalog)
    assert forgot.ok, forgot.error
    assert forgot.result["forget"]["removed"] == [old.result["snapshot_id"]]
    assert catalog.get_backup_record(old.result["snapshot_id"]) is None
    assert catalog.get_backup_record(first.result["snapshot_id"]) is not None
    assert "prune" in forgot.result
    assert run_job("check", site.cfg, {"read_data": True}, catalog=catalog).ok


def test_abandoned_runs_are_closed_as_failed(site, catalog) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    import socket

    run = catalog.start_run("backup", site="blog", repository="local", triggered_by="celery",
                            host=socket.gethostname(), pid=int(dead.stdout))
    catalog.upsert_backup_record(placeholder_id(run.id), site="blog", backup_type="incremental", status="running")
    alive = catalog.start_run("check", site="blog", triggered_by="cli", host=socket.gethostname(), pid=os.getpid())
    elsewhere = catalog.start_run("prune", site="blog", triggered_by="celery", host="other-host", pid=1)
    reaped = reap_stale_runs(catalog, site="blog")
    assert [r.id for r in reaped] == [run.id]
    assert reaped[0].status == "failed" and reaped[0].error_code == "interrupted"
    assert catalog.get_backup_record(placeholder_id(run.id)).status == "failed"
    assert catalog.get_run(alive.id).status == "running"
    # Another host's run is judged by its heartbeat.
    assert catalog.get_run(elsewhere.id).status == "running"
    catalog.update_run_progress(alive.id, {"heartbeat": (datetime.now(UTC) + timedelta(minutes=9)).isoformat()})
    later = datetime.now(UTC) + timedelta(minutes=10)
    assert [r.id for r in reap_stale_runs(catalog, site="blog", now=later)] == [elsewhere.id]
    assert catalog.get_run(elsewhere.id).status == "failed"
    assert catalog.get_run(alive.id).status == "running"


def test_drill_job_records_its_result(site, catalog) -> None:
    assert run_job("backup", site.cfg, {}, catalog=catalog).ok
    drilled = run_job("drill", site.cfg, {}, catalog=catalog, triggered_by="scheduler")
    assert drilled.ok, drilled.error
    results = catalog.list_drill_results(site="blog").items
    assert len(results) == 1 and results[0].ok and results[0].run_id == drilled.run_id
    assert results[0].snapshot_id == drilled.result["snapshot_id"]
    site.database.write_bytes(b"")  # the drill restores from the repository, not the live file
    assert run_job("drill", site.cfg, {}, catalog=catalog).ok
