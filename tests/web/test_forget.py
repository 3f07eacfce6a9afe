"""``DELETE /api/v1/backup/<id>`` forgets through the engine's forget, like the CLI and the scheduled job.

So it holds the repository's exclusive lock: a snapshot is never deleted
under a running backup or check (they hold shared locks), and another
site's snapshot is refused before anything is deleted.
"""

from __future__ import annotations

from flask import Flask
from tests.web.conftest import PASSWORD, Site, bearer, wait_run

from sitesnap.format.snapshot import Snapshot
from sitesnap.repository.repository import Repository
from sitesnap.storage.local import LocalStorage


def _backup(app: Flask, tokens: dict[str, str]) -> str:
    client = app.test_client()
    started = client.post("/api/v1/backup/create", json={"type": "snapshot"}, headers=bearer(tokens["operator"]))
    assert started.status_code == 202
    run = wait_run(client, started.get_json()["run_id"], tokens["operator"])
    assert run["status"] == "completed", run["error_message"]
    return str(run["result"]["snapshot_id"])


def test_delete_waits_for_no_one_holding_a_shared_lock(app: Flask, site: Site, tokens: dict[str, str]) -> None:
    snapshot_id = _backup(app, tokens)
    client = app.test_client()
    with Repository.open(LocalStorage(site.root / "repo"), PASSWORD) as repo, repo.lock(operation="backup"):
        busy = client.delete(f"/api/v1/backup/{snapshot_id}", headers=bearer(tokens["admin"]))
        assert busy.status_code == 409 and busy.get_json()["error"] == "locked"
        assert snapshot_id in {s.id for s in repo.load_snapshots()}
    deleted = client.delete(f"/api/v1/backup/{snapshot_id}", headers=bearer(tokens["admin"]))
    assert deleted.status_code == 200
    with Repository.open(LocalStorage(site.root / "repo"), PASSWORD) as repo:
        assert snapshot_id not in {s.id for s in repo.load_snapshots()}


def test_delete_refuses_another_sites_snapshot(app: Flask, site: Site, tokens: dict[str, str]) -> None:
    snapshot_id = _backup(app, tokens)
    with Repository.open(LocalStorage(site.root / "repo"), PASSWORD) as repo:
        snap = repo.load_snapshot(snapshot_id)
        other = Snapshot(time=snap.time, tree=snap.tree, paths=list(snap.paths), hostname=snap.hostname,
                         username=snap.username, type="snapshot", site="shop")
        other_id = repo.save_snapshot(other)
    refused = app.test_client().delete(f"/api/v1/backup/{other_id}", headers=bearer(tokens["admin"]))
    assert refused.status_code == 400 and "belongs to 'shop'" in refused.get_json()["message"]
    with Repository.open(LocalStorage(site.root / "repo"), PASSWORD) as repo:
        assert {snapshot_id, other_id} <= {s.id for s in repo.load_snapshots()}
