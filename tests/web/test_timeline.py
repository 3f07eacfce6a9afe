"""The timeline endpoint and restore to a time over HTTP: a real site with a continuous SQLite
source captured into its repository, a viewer reading the windows, an admin planning and running
a restore ``at`` a chosen time."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from tests.web.conftest import PASSWORD, Site, bearer, join_jobs, wait_run

from sitesnap.engine.continuous import run_capture
from sitesnap.repository.repository import Repository
from sitesnap.storage.local import LocalStorage
from sitesnap.web import create_app, web_state


def continuous_site(site: Site) -> None:
    """Make the site's SQLite source continuous (WAL mode, ``continuous = true``)."""
    conn = sqlite3.connect(site.sqlite)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()
    text = site.config.read_text()
    site.config.write_text(text.replace('path = "blog.db"\n', 'path = "blog.db"\ncontinuous = true\n'))


def capture_once(site: Site) -> None:
    repo = Repository.open(LocalStorage(site.root / "repo"), PASSWORD)
    try:
        run_capture(repo, [SimpleNamespace(name="blog", type="sqlite", path=site.sqlite, continuous=True)], once=True)
    finally:
        repo.close()


@dataclass
class Served:
    app: Flask
    client: FlaskClient
    viewer: str
    admin: str
    snapshot: str


@pytest.fixture
def served(site_factory: Callable[..., Site]) -> Iterator[Served]:
    """A continuous site with one full backup and two captures after it (the second ships a new row)."""
    site = site_factory()
    continuous_site(site)
    app = create_app(site.config, testing=True, settings={"SITESNAP_SSE_POLL": 0.05})
    accounts = web_state(app).accounts
    viewer, admin = accounts.create_token("viewer", name="v")[1], accounts.create_token("admin", name="a")[1]
    client = app.test_client()
    try:
        started = client.post("/api/v1/backup/create", json={"type": "full"}, headers=bearer(admin))
        snapshot = wait_run(client, started.get_json()["run_id"], admin)["result"]["snapshot_id"]
        app_db = sqlite3.connect(site.sqlite, isolation_level=None)  # the site keeps its database open
        capture_once(site)
        app_db.execute("INSERT INTO posts (title) VALUES ('after the snapshot')")
        time.sleep(0.05)
        capture_once(site)
        app_db.close()
        yield Served(app, client, viewer, admin, snapshot)
    finally:
        join_jobs(app)
        web_state(app).catalog.close()


def timeline_of(served: Served) -> tuple[dict[str, Any], datetime, datetime]:
    """The viewer's timeline, the blog snapshot's time and the end of its captured window."""
    answer = served.client.get("/api/v1/backup/timeline", headers=bearer(served.viewer))
    assert answer.status_code == 200, answer.get_json()
    data = answer.get_json()
    blog = next(s for s in data["sources"] if s["name"] == "blog")
    snap_time, end = blog["snapshots"][0]["time"], blog["windows"][-1]["end"]
    return data, datetime.fromisoformat(snap_time), datetime.fromisoformat(end)


def test_timeline_shows_windows_and_snapshot_times(served: Served) -> None:
    data, snap_time, _end = timeline_of(served)
    by_name = {s["name"]: s for s in data["sources"]}
    assert set(by_name) == {"uploads", "blog"} and data["errors"] == []
    blog, uploads = by_name["blog"], by_name["uploads"]
    assert blog["continuous"] is True and uploads["continuous"] is False and uploads["windows"] == []
    assert [s["id"] for s in blog["snapshots"]] == [served.snapshot] == [s["id"] for s in uploads["snapshots"]]
    assert [s["id"] for s in data["snapshots"]] == [served.snapshot]
    (window,) = blog["windows"]
    start, end = datetime.fromisoformat(window["start"]), datetime.fromisoformat(window["end"])
    assert snap_time <= start <= end <= datetime.now(UTC) and window["segments"] >= 2


def test_restore_at_a_time_plans_and_runs(served: Served, tmp_path: Path) -> None:
    client, admin, snapshot = served.client, served.admin, served.snapshot
    _data, snap_time, end = timeline_of(served)
    at = end.astimezone(timezone(timedelta(hours=8)))  # any offset names the same moment
    plan = client.post("/api/v1/backup/latest/restore", json={"at": at.isoformat(), "dry_run": True},
                       headers=bearer(admin))
    assert plan.status_code == 200, plan.get_json()
    body = plan.get_json()["plan"]
    assert body["snapshot_id"] == snapshot and datetime.fromisoformat(body["at"]) == at
    for item in body["items"]:
        assert datetime.fromisoformat(item["time"]) == snap_time
        assert item["distance_seconds"] == (at - snap_time).total_seconds() >= 0

    naive = client.post("/api/v1/backup/latest/restore", json={"at": "2026-01-01T00:00:00", "dry_run": True},
                        headers=bearer(admin))
    assert naive.status_code in (400, 422)
    both = client.post(f"/api/v1/backup/{snapshot}/restore", json={"at": at.isoformat(), "dry_run": True},
                       headers=bearer(admin))
    assert both.status_code == 400 and "not both" in both.get_json()["message"]
    early = client.post("/api/v1/backup/latest/restore",
                        json={"at": (snap_time - timedelta(days=1)).isoformat(), "dry_run": True},
                        headers=bearer(admin))
    assert early.status_code == 404

    target = tmp_path / "copy.db"
    run = client.post("/api/v1/backup/latest/restore", headers=bearer(admin),
                      json={"at": at.isoformat(), "sources": ["blog"], "targets": {"blog": str(target)}})
    assert run.status_code == 202, run.get_json()
    done = wait_run(client, run.get_json()["run_id"], admin)
    assert done["status"] == "completed", done["error_message"]
    assert done["result"]["snapshot_id"] == snapshot
    (started_audit,) = web_state(served.app).catalog.list_audit(action="restore.start").items
    assert started_audit.details["at"] == at.isoformat()
    with sqlite3.connect(target) as copy:
        assert copy.execute("SELECT count(*) FROM posts").fetchone() == (25,)  # the snapshot at or before
    copy.close()
    denied = client.post("/api/v1/backup/latest/restore", json={"at": at.isoformat(), "dry_run": True},
                         headers=bearer(served.viewer))
    assert denied.status_code == 403
