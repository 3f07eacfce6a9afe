"""The API asks for ``confirm`` before restoring into another database that already holds data."""

from __future__ import annotations

import secrets
from collections.abc import Callable

import psycopg
from tests.web.conftest import Site, _create_pg, bearer, join_jobs, pg_url, site_factory, wait_run  # noqa: F401

from sitesnap.web import create_app, web_state


def test_restore_into_an_occupied_database_needs_confirm_and_takes_a_safety_snapshot(
    site_factory: Callable[..., Site],  # noqa: F811
) -> None:
    site = site_factory(postgres=True)
    app = create_app(site.config, testing=True)
    admin = web_state(app).accounts.create_token("admin", name="root")[1]
    client = app.test_client()
    try:
        started = client.post("/api/v1/backup/create", json={"type": "full"}, headers=bearer(admin))
        assert started.status_code == 202
        backup = wait_run(client, started.get_json()["run_id"], admin)
        assert backup["status"] == "completed", backup["error_message"]
        snapshot_id = backup["result"]["snapshot_id"]

        other = f"sitesnap_w_{secrets.token_hex(4)}"
        site.extra_dbs.append(other)
        _create_pg(other)
        with psycopg.connect(pg_url(other), autocommit=True) as conn:
            conn.execute("CREATE TABLE guestbook (id int PRIMARY KEY)")
            conn.execute("INSERT INTO guestbook SELECT generate_series(1, 3)")
        body = {"sources": ["shop"], "targets": {"shop": pg_url(other)}}
        plan = client.post(f"/api/v1/backup/{snapshot_id}/restore", json={**body, "dry_run": True},
                           headers=bearer(admin)).get_json()
        assert plan["plan"]["overwrites_live_data"] is True
        refused = client.post(f"/api/v1/backup/{snapshot_id}/restore", json=body, headers=bearer(admin))
        assert refused.status_code == 400 and "confirm" in refused.get_json()["hint"]
        with psycopg.connect(pg_url(other)) as conn:
            assert conn.execute("SELECT count(*) FROM guestbook").fetchone() == (3,)

        confirmed = client.post(f"/api/v1/backup/{snapshot_id}/restore", json={**body, "confirm": "blog"},
                                headers=bearer(admin))
        assert confirmed.status_code == 202
        restored = wait_run(client, confirmed.get_json()["run_id"], admin)
        assert restored["status"] == "completed", restored["error_message"]
        assert restored["result"]["safety_snapshot"], restored["result"]
    finally:
        join_jobs(app)
