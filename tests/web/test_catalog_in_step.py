"""The console never lists what the repository no longer has, and CLI changes show in Runs and the audit log.

After a CLI forget (with -c), an API forget, a scheduler run and a change made
behind the catalog's back (a forget with -r alone, which has no catalog), the
API's backup records name exactly the snapshots ``snapshots --json`` lists.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from flask import Flask
from tests.web.conftest import PASSWORD, Site, bearer

from sitesnap.engine.site import backup_site
from sitesnap.runtime.jobs import run_job
from sitesnap.runtime.jobs.kinds import open_site_repository
from sitesnap.web import web_state

SITESNAP = str(Path(sys.executable).with_name("sitesnap"))


def _cli(site: Site, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SITESNAP_TEST_PASSWORD": PASSWORD, "SITESNAP_PASSWORD": PASSWORD}
    env.pop("SITESNAP_CONFIG", None)
    env.pop("SITESNAP_REPOSITORY", None)
    res = subprocess.run([SITESNAP, *args], cwd=site.root, env=env, text=True, capture_output=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return res


def _repository_ids(site: Site) -> list[str]:
    listed = json.loads(_cli(site, "-c", str(site.config), "--json", "snapshots").stdout)
    return sorted(s["id"] for s in listed)


def _api_ids(app: Flask, token: str) -> list[str]:
    items = app.test_client().get("/api/v1/backup/records?per_page=100",
                                  headers=bearer(token)).get_json()["items"]
    return sorted(i["backup_id"] for i in items if not i["backup_id"].startswith("run-"))


def _runs(app: Flask, token: str) -> list[dict[str, Any]]:
    return list(app.test_client().get("/api/v1/runs?per_page=100", headers=bearer(token)).get_json()["items"])


def _audit(app: Flask, token: str) -> list[str]:
    items = app.test_client().get("/api/v1/audit?per_page=100", headers=bearer(token)).get_json()["items"]
    return [e["action"] for e in items]


def test_records_follow_the_repository_whoever_changes_it(app: Flask, site: Site, tokens: dict[str, str]) -> None:
    admin = tokens["admin"]
    for _ in range(4):
        _cli(site, "-c", str(site.config), "backup", "--in-process")
    ids = _repository_ids(site)
    assert len(ids) == 4 and _api_ids(app, admin) == ids

    # CLI forget with a site config: a recorded run, an audit entry, the record gone.
    _cli(site, "-c", str(site.config), "forget", ids[0])
    assert _api_ids(app, admin) == _repository_ids(site) == ids[1:]
    assert any(r["kind"] == "forget" and r["triggered_by"] == "cli" and r["status"] == "completed"
               for r in _runs(app, admin))
    assert "run.forget" in _audit(app, admin)

    # CLI prune with a site config is recorded too.
    _cli(site, "-c", str(site.config), "prune")
    assert any(r["kind"] == "prune" and r["triggered_by"] == "cli" for r in _runs(app, admin))

    # API forget.
    assert app.test_client().delete(f"/api/v1/backup/{ids[1]}", headers=bearer(admin)).status_code == 200
    assert _api_ids(app, admin) == _repository_ids(site) == ids[2:]

    # Behind the catalog's back: a forget with -r alone (no site config, no catalog).
    _cli(site, "-r", str(site.root / "repo"), "forget", ids[2])
    # ... a scheduler run reconciles the catalog with the repository.
    cfg = web_state(app).config
    run = run_job("check", cfg, {}, catalog=web_state(app).catalog, triggered_by="scheduler")
    assert run.ok, run.error
    assert _api_ids(app, admin) == [ids[3]]

    # ... and so does a listing, for a site snapshot written without the catalog (another host, say).
    with open_site_repository(cfg.primary) as repo:
        backup_site(repo, cfg, hostname="other-host")
    assert _api_ids(app, admin) == [ids[3]]
    listed = _repository_ids(site)
    assert len(listed) == 2 and _api_ids(app, admin) == listed
