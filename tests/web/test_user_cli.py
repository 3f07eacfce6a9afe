"""``sitesnap user passwd|role|remove``: change accounts from the command line; sessions end; the last admin stays."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.web.conftest import PASSWORD, Site

from sitesnap.web import create_app, web_state

SITESNAP = str(Path(sys.executable).with_name("sitesnap"))


def cli(site: Site, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SITESNAP_TEST_PASSWORD": PASSWORD}
    return subprocess.run([SITESNAP, "-c", str(site.config), *args], capture_output=True, text=True, env=env,
                          timeout=60, check=False)


def login(client: object, name: str, password: str) -> int:
    return int(client.post("/api/v1/auth/login", json={"name": name, "password": password}).status_code)  # type: ignore[attr-defined]


def test_passwd_role_remove_and_the_last_admin(site: Site, tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text("first-password")
    assert cli(site, "user", "add", "ann", "--role", "admin", "--password-file", str(pw)).returncode == 0
    assert cli(site, "user", "add", "bob", "--role", "viewer", "--password-file", str(pw)).returncode == 0
    app = create_app(site.config, testing=True)
    client = app.test_client()
    assert login(client, "bob", "first-password") == 200
    assert client.get("/api/v1/auth/me").status_code == 200

    pw.write_text("second-password")
    done = cli(site, "user", "passwd", "bob", "--password-file", str(pw))
    assert done.returncode == 0, done.stderr
    assert client.get("/api/v1/auth/me").status_code == 401  # the old session ended
    assert login(app.test_client(), "bob", "first-password") == 401
    assert login(app.test_client(), "bob", "second-password") == 200

    done = cli(site, "user", "role", "ann", "--role", "viewer")
    assert done.returncode == 2 and "only admin" in done.stderr and "Traceback" not in done.stderr
    assert cli(site, "user", "remove", "ann").returncode == 2
    assert cli(site, "user", "role", "bob", "--role", "admin").returncode == 0
    assert cli(site, "user", "remove", "ann").returncode == 0
    users = cli(site, "user", "list").stdout
    assert "ann" not in users and "bob" in users and "admin" in users
    missing = cli(site, "user", "remove", "nobody")
    assert missing.returncode != 0 and "nobody" in missing.stderr and "Traceback" not in missing.stderr
    actions = {e.action for e in web_state(app).catalog.list_audit().items}
    assert {"user.passwd", "user.role", "user.remove"} <= actions
    web_state(app).catalog.close()
