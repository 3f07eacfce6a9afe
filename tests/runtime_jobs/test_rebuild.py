"""``catalog rebuild``: the repository is the source of truth; a lost catalog comes back from it."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

from sitesnap.catalog import open_catalog
from sitesnap.runtime.jobs import placeholder_id, rebuild_catalog, run_job

COMPARED = ("backup_id", "site", "backup_type", "status", "created_at", "completed_at", "hostname", "file_size",
            "dedup_ratio", "encryption_enabled", "metadata", "duration")


def _records(catalog) -> dict[str, dict]:
    return {r.backup_id: {k: getattr(r, k) for k in COMPARED}
            for r in catalog.list_backup_records(site="blog", per_page=500).items}


def test_rebuild_after_losing_the_catalog(make_site, run_cli) -> None:
    site = make_site("blog")
    cfg = site.cfg
    catalog = open_catalog(cfg.runtime.catalog_url)
    assert run_job("backup", cfg, {"type": "full"}, catalog=catalog).ok
    (site.uploads / "new.txt").write_text("fresh\n")
    assert run_job("backup", cfg, {"tags": ["release", "v2"]}, catalog=catalog).ok
    assert run_job("backup", cfg, {"type": "snapshot", "sources": ["db"]}, catalog=catalog).ok
    before = {k: v for k, v in _records(catalog).items()}
    assert len(before) == 3
    catalog.close()

    db_file = cfg.runtime.state_dir / "catalog.db"
    for suffix in ("", "-wal", "-shm"):
        db_file.with_name(db_file.name + suffix).unlink(missing_ok=True)
    result = run_cli("-c", str(site.config_path), "catalog", "rebuild", "--json", password=None)
    assert result.code == 0, result.stderr
    assert len(json.loads(result.stdout)["written"]) == 3

    catalog = open_catalog(cfg.runtime.catalog_url)
    after = _records(catalog)
    assert after == before
    with site.open_repo() as repo:
        snaps = {s.id: s for s in repo.load_snapshots()}
    assert set(after) == set(snaps)
    for sid, snap in snaps.items():
        assert after[sid]["backup_type"] == snap.type and after[sid]["created_at"] == snap.time
        assert after[sid]["metadata"]["tags"] == snap.tags

    # A failed backup's record stays; a snapshot deleted from the repository loses its record.
    site.database.rename(site.database.with_suffix(".gone"))
    failed = run_job("backup", cfg, {}, catalog=catalog)
    assert failed.status == "failed"
    victim = next(sid for sid, s in snaps.items() if s.type == "snapshot")
    with site.open_repo() as repo:
        repo.delete_snapshot(victim)
    report = rebuild_catalog(cfg, catalog)
    assert report.removed == [victim] and len(report.written) == 2
    assert catalog.get_backup_record(victim) is None
    assert catalog.get_backup_record(placeholder_id(failed.run_id)).status == "failed"
    assert catalog.list_audit(action="catalog.rebuild").total == 2
    catalog.close()


def test_cli_once_and_runs(make_site, run_cli) -> None:
    site = make_site("blog")
    once = run_cli("-c", str(site.config_path), "scheduler", "--once", "incremental", "--json", password=None)
    assert once.code == 0, once.stderr
    summary = json.loads(once.stdout.strip().splitlines()[-1])
    assert summary["status"] == "completed" and summary["kind"] == "backup"
    site.database.unlink()
    broken = run_cli("-c", str(site.config_path), "scheduler", "--once", "full", password=None)
    assert broken.code == 17 and broken.stderr.startswith("sitesnap: error: Cannot read source")
    listed = run_cli("-c", str(site.config_path), "runs", "--json", password=None)
    assert listed.code == 0, listed.stderr
    runs = json.loads(listed.stdout)["runs"]
    assert [(r["kind"], r["status"], r["triggered_by"]) for r in runs] == [
        ("backup", "failed", "cli"), ("backup", "completed", "cli")]
    assert runs[0]["error_code"] == "source" and runs[1]["id"] == summary["run_id"]


def test_runs_has_a_header_and_says_interrupted_once(make_site, run_cli) -> None:
    site = make_site("blog")
    catalog = open_catalog(site.cfg.runtime.catalog_url)
    try:
        gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True)
        catalog.start_run("backup", site="blog", repository="local", host=socket.gethostname(),
                          pid=int(gone.stdout))  # its process has exited: abandoned
    finally:
        catalog.close()
    listed = run_cli("-c", str(site.config_path), "runs", password=None)
    assert listed.code == 0, listed.stderr
    header, row = listed.stdout.splitlines()[:2]
    assert header.split() == ["RUN", "CREATED", "KIND", "STATUS", "TRIGGER", "TOOK", "ERROR"]
    assert "failed" in row and "interrupted: run abandoned: process" in row
    assert "Interrupted:" not in row
