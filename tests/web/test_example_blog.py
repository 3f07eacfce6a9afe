"""The example blog mounts sitesnap and backs itself up through its own mounted API."""

from __future__ import annotations

import importlib.util
import sqlite3
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

from sitesnap.ext import Sitesnap

BLOG = Path(__file__).resolve().parents[2] / "examples" / "flask_blog" / "blog.py"
API = "/admin/backups/api/v1"


def _blog_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("flask_blog_example", BLOG)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_blog_backs_itself_up_through_its_admin_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SITESNAP_PASSWORD", "blog repository password")
    blog = _blog_module()
    app = blog.create_app({"BLOG_ADMIN_PASSWORD": "admin-pw", "SECRET_KEY": "test-secret-key-0123456789"},
                          instance_path=str(tmp_path / "instance"))
    config = tmp_path / "instance" / "sitesnap.toml"
    text = config.read_text()
    assert 'type = "sqlite"' in text and 'path = "blog.db"' in text and 'path = "uploads"' in text

    runner = app.test_cli_runner()
    created = runner.invoke(args=["sitesnap", "init"])
    assert created.exit_code == 0, created.output
    assert (tmp_path / "instance" / "backups" / "config").exists()

    client = app.test_client()
    assert client.get(f"{API}/backup/records").status_code == 401  # not logged in to the blog
    assert client.post("/login", data={"password": "admin-pw"}).status_code == 302
    client.post("/posts", data={"title": "hello", "body": "first post"})
    me = client.get(f"{API}/auth/me").get_json()
    assert me["kind"] == "host" and me["role"] == "admin"
    started = client.post(f"{API}/backup/create", json={"type": "snapshot", "tags": ["from-blog"]},
                          headers={"X-CSRF-Token": me["csrf_token"]})
    assert started.status_code == 202, started.get_json()
    run_id = started.get_json()["run_id"]
    deadline = time.monotonic() + 60
    while (run := client.get(f"{API}/runs/{run_id}").get_json())["status"] not in ("completed", "failed"):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert run["status"] == "completed", run["log"]
    records = client.get(f"{API}/backup/records?q=from-blog").get_json()["items"]
    assert len(records) == 1 and records[0]["metadata"]["row_counts"] == {"db": 1}
    with sqlite3.connect(blog.database_path(app)) as conn:
        assert conn.execute("SELECT title FROM posts").fetchall() == [("hello",)]
    listed = runner.invoke(args=["sitesnap", "snapshots", "--json"])
    assert listed.exit_code == 0 and records[0]["backup_id"] in listed.output
    extension = app.extensions["sitesnap"]
    assert isinstance(extension, Sitesnap)
    audit = extension.state(app).catalog.list_audit(action="backup.create").items
    assert audit[0].actor == "host:1" or audit[0].actor.startswith("host:")
    # publishing the post sent the important_operation signal: one realtime trigger is pending
    from sitesnap.runtime.realtime import pending

    batch = pending(extension.state(app).config)
    assert batch is not None and batch.count == 1 and batch.reasons == ["post published: hello"]
    again = client.post(f"{API}/backup/realtime", json={"reason": "settings changed"},
                        headers={"X-CSRF-Token": me["csrf_token"]})
    assert again.status_code == 202 and again.get_json()["pending"] == 2
    for thread in extension.state(app).threads:
        thread.join(30)
    extension.state(app).catalog.close()
