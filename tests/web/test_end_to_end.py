"""End to end over HTTP against the real servers: back up a site with SQLite, PostgreSQL and
files, follow it by server-sent events, list it, restore it into another database, delete it;
the audit log holds every step."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable

import psycopg
from tests.web.conftest import Site, _create_pg, bearer, join_jobs, pg_url, wait_run

from sitesnap.web import create_app, web_state


def _events(text: str) -> list[tuple[str, dict[str, object]]]:
    out = []
    for block in text.split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(":"))
        if "event" in lines:
            out.append((lines["event"], json.loads(lines["data"])))
    return out


def test_backup_follow_list_restore_delete(site_factory: Callable[..., Site]) -> None:
    site = site_factory(postgres=True)
    app = create_app(site.config, testing=True, settings={"SITESNAP_SSE_POLL": 0.05})
    accounts = web_state(app).accounts
    operator, admin = accounts.create_token("operator", name="ops")[1], accounts.create_token("admin", name="root")[1]
    client = app.test_client()
    try:
        started = client.post("/api/v1/backup/create", json={"type": "full", "tags": ["e2e"]},
                              headers=bearer(operator))
        assert started.status_code == 202
        run_id = started.get_json()["run_id"]

        stream = client.get(f"/api/v1/runs/{run_id}/events", headers=bearer(operator))
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        events = _events(stream.get_data(as_text=True))
        kinds = [name for name, _ in events]
        assert kinds[-1] == "end" and "status" in kinds
        final = events[-1][1]
        assert final["status"] == "completed", final
        assert any(name == "progress" for name in kinds)

        run = client.get(f"/api/v1/runs/{run_id}", headers=bearer(operator)).get_json()
        assert run["progress"]["finished"] is True and run["actor"].startswith("token:")
        snapshot_id = run["result"]["snapshot_id"]

        listed = client.get("/api/v1/backup/records?q=e2e&type=full", headers=bearer(operator)).get_json()
        assert [r["backup_id"] for r in listed["items"]] == [snapshot_id]
        record = client.get(f"/api/v1/backup/{snapshot_id}", headers=bearer(operator)).get_json()
        assert record["metadata"]["row_counts"] == {"blog": 25, "shop": 40}

        other = f"sitesnap_w_{secrets.token_hex(4)}"
        site.extra_dbs.append(other)
        _create_pg(other)
        body = {"sources": ["shop"], "targets": {"shop": pg_url(other)}}
        plan = client.post(f"/api/v1/backup/{snapshot_id}/restore", json={**body, "dry_run": True},
                           headers=bearer(admin)).get_json()
        assert plan["run_id"] is None and plan["plan"]["overwrites_live_data"] is False
        assert plan["plan"]["items"][0]["after"] == {"public.orders": 40}
        refused = client.post(f"/api/v1/backup/{snapshot_id}/restore", json=body, headers=bearer(operator))
        assert refused.status_code == 403
        restoring = client.post(f"/api/v1/backup/{snapshot_id}/restore", json=body, headers=bearer(admin))
        assert restoring.status_code == 202
        restored = wait_run(client, restoring.get_json()["run_id"], admin)
        assert restored["status"] == "completed", restored["error_message"]
        with psycopg.connect(pg_url(other)) as conn:
            rows = conn.execute("SELECT count(*), min(item) FROM orders").fetchone()
        assert rows == (40, "item 1")

        in_place = client.post(f"/api/v1/backup/{snapshot_id}/restore", json={"sources": ["blog"]},
                               headers=bearer(admin))
        assert in_place.status_code == 400 and "confirm" in in_place.get_json()["hint"]

        deleted = client.delete(f"/api/v1/backup/{snapshot_id}", headers=bearer(admin))
        assert deleted.status_code == 200
        assert client.get(f"/api/v1/backup/{snapshot_id}", headers=bearer(admin)).status_code == 404
        gone = client.post(f"/api/v1/backup/{snapshot_id}/restore", json={"dry_run": True}, headers=bearer(admin))
        assert gone.status_code == 404 and gone.get_json()["error"] == "snapshot_not_found"

        audit = client.get("/api/v1/audit?per_page=100", headers=bearer(admin)).get_json()["items"]
        steps = [(e["action"], e["target"]) for e in reversed(audit)]
        for step in [("backup.create", "blog"), ("run.backup", "blog"), ("restore.plan", snapshot_id),
                     ("restore.start", snapshot_id), ("run.restore", "blog"), ("restore.refused", snapshot_id),
                     ("backup.delete", snapshot_id)]:
            assert step in steps, step
        assert all(e["source_ip"] == "127.0.0.1" for e in audit if e["action"].startswith(("backup.", "restore.")))
        assert "root" in {e["actor"].split(":")[-1] for e in audit if e["action"] == "backup.delete"}
    finally:
        join_jobs(app)
        web_state(app).catalog.close()


def test_config_put_validates_and_saves(site: Site) -> None:
    app = create_app(site.config, testing=True)
    admin = web_state(app).accounts.create_token("admin")[1]
    client = app.test_client()
    current = client.get("/api/v1/backup/config", headers=bearer(admin)).get_json()
    broken = current["toml"].replace('type = "sqlite"', 'type = "sqlight"')
    bad = client.put("/api/v1/backup/config", json={"toml": broken}, headers=bearer(admin))
    assert bad.status_code == 400 and bad.get_json()["error"] == "config"
    problem = bad.get_json()["problems"][0]
    assert "sitesnap.toml:" in problem and "sources[1].type" in problem
    assert site.config.read_text() == current["toml"]  # nothing written
    changed = "# edited from the API\n" + current["toml"].replace('name = "blog"\n', 'name = "blog"\nrpo = "12h"\n', 1)
    saved = client.put("/api/v1/backup/config", json={"toml": changed}, headers=bearer(admin))
    assert saved.status_code == 200 and saved.get_json()["version"] == 1
    assert site.config.read_text() == changed
    assert client.get("/api/v1/sites", headers=bearer(admin)).get_json()[0]["rpo_seconds"] == 12 * 3600
    as_json = client.put("/api/v1/backup/config", headers=bearer(admin), json={"config": {
        "site": {"name": "blog"}, "sources": [{"name": "uploads", "type": "files", "path": "uploads"}],
        "repositories": [{"name": "main", "url": "repo", "password": {"env": "SITESNAP_TEST_PASSWORD"}}],
        "runtime": {"state_dir": "state"}}})
    assert as_json.status_code == 200 and as_json.get_json()["version"] == 2
    assert [s["name"] for s in client.get("/api/v1/sites", headers=bearer(admin)).get_json()[0]["sources"]] == [
        "uploads"]
    actions = [e.action for e in web_state(app).catalog.list_audit(action="config.update").items]
    assert actions == ["config.update", "config.update"]
    web_state(app).catalog.close()
