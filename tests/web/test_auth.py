"""Access rules: every route declares one, each role is allowed or refused as declared,
sessions need CSRF for changes, logins are rate limited, tokens are hashed, headers are set."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from tests.web.conftest import ROLES, Site, bearer, join_jobs

from sitesnap.catalog import role_at_least
from sitesnap.config import JOBS
from sitesnap.runtime.jobs import KINDS
from sitesnap.web import create_app, requires, web_state
from sitesnap.web.auth import PUBLIC, PUBLIC_METRICS, route_rule

MISSING = "0" * 64
# (method, path, least role, JSON body).  Bodies are valid but cheap: the allowed
# call may still fail for its input (404, 400), never with 401/403.
ROUTES: list[tuple[str, str, str, Any]] = [
    ("GET", "/api/v1/backup/records", "viewer", None),
    ("POST", "/api/v1/backup/create", "operator", {"sources": ["no-such-source"]}),
    ("POST", "/api/v1/backup/realtime", "operator", {"reason": "role test"}),
    ("GET", "/api/v1/backup/config", "viewer", None),
    ("GET", "/api/v1/backup/timeline", "viewer", None),
    ("PUT", "/api/v1/backup/config", "admin", {"toml": "[site]\nname = 1\n"}),
    ("GET", f"/api/v1/backup/{MISSING}", "viewer", None),
    ("POST", f"/api/v1/backup/{MISSING}/restore", "admin", {"dry_run": True}),
    ("DELETE", f"/api/v1/backup/{MISSING}", "admin", None),
    ("GET", "/api/v1/runs", "viewer", None),
    ("GET", "/api/v1/runs/no-such-run", "viewer", None),
    ("GET", "/api/v1/runs/no-such-run/events", "viewer", None),
    ("GET", "/api/v1/sites", "viewer", None),
    ("GET", "/api/v1/repositories", "viewer", None),
    ("GET", "/api/v1/drills", "viewer", None),
    ("POST", "/api/v1/drills", "operator", {"snapshot": "no-such-snapshot"}),
    ("GET", "/api/v1/jobs", "viewer", None),
    ("GET", "/api/v1/metrics/summary", "viewer", None),
    ("GET", "/api/v1/audit", "viewer", None),
    ("GET", "/api/v1/openapi.json", "viewer", None),
    ("GET", "/metrics", "viewer", None),
    ("POST", "/api/v1/auth/logout", "viewer", None),
    ("GET", "/api/v1/auth/me", "viewer", None),
    ("GET", "/api/v1/users", "admin", None),
    ("POST", "/api/v1/users", "admin", {"name": "role-test", "role": "viewer", "password": "short"}),
    ("PATCH", "/api/v1/users/no-such-user", "admin", {"role": "viewer"}),
    ("DELETE", "/api/v1/users/no-such-user", "admin", None),
    ("GET", "/api/v1/users/tokens", "admin", None),
    ("POST", "/api/v1/users/tokens/0/revoke", "admin", None),
    ("GET", "/api/v1/health", PUBLIC, None),
    ("POST", "/api/v1/auth/login", PUBLIC, {"name": "nobody", "password": "wrong"}),
]


def _rules(app: Flask) -> set[tuple[str, str]]:
    return {(method, rule.rule) for rule in app.url_map.iter_rules() if not rule.endpoint.startswith("console.")
            for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}}


def test_every_route_declares_an_access_rule(app: Flask) -> None:
    missing = [rule.endpoint for rule in app.url_map.iter_rules() if route_rule(app, rule.endpoint) is None]
    assert missing == []
    public = {rule.endpoint for rule in app.url_map.iter_rules()
              if route_rule(app, rule.endpoint) in (PUBLIC, PUBLIC_METRICS)}
    assert {e for e in public if not e.startswith("console.")} == {"session.login", "system.health",
                                                                    "prometheus.prometheus"}


def test_every_route_is_in_the_role_table(app: Flask) -> None:
    table = {(method, _flask_rule(path)) for method, path, _, _ in ROUTES}
    assert _rules(app) == table, "add new routes to ROUTES with their least role"


def _flask_rule(path: str) -> str:
    return (path.replace(MISSING, "<backup_id>").replace("no-such-run", "<run_id>")
            .replace("no-such-user", "<name>").replace("tokens/0/", "tokens/<int:token_id>/"))


def test_a_route_without_a_rule_is_refused(site: Site) -> None:
    app = create_app(site.config, testing=True)
    token = web_state(app).accounts.create_token("admin")[1]

    @app.get("/api/v1/forgotten")
    def forgotten() -> dict[str, str]:
        return {"secret": "data"}

    response = app.test_client().get("/api/v1/forgotten", headers=bearer(token))
    assert response.status_code == 403
    assert response.get_json()["error"] == "forbidden"
    assert "declares no access rule" in response.get_json()["message"]
    assert [r.endpoint for r in app.url_map.iter_rules() if route_rule(app, r.endpoint) is None] == ["forgotten"]
    web_state(app).catalog.close()


@pytest.mark.parametrize(("method", "path", "least", "body"), ROUTES, ids=[f"{m} {p}" for m, p, _, _ in ROUTES])
def test_each_role_is_allowed_or_refused(app: Flask, tokens: dict[str, str], method: str, path: str, least: str,
                                         body: Any) -> None:
    client = app.test_client()
    for role in (None, *ROLES):
        response = client.open(path, method=method, json=body, headers=bearer(tokens[role] if role else None))
        allowed = least == PUBLIC or (role is not None and role_at_least(role, least))
        what = f"{method} {path} as {role}: {response.status_code} {response.get_data(as_text=True)[:200]}"
        if allowed:
            assert response.status_code not in (401, 403) or path.endswith("/login"), what
            assert response.status_code < 500, what
        elif role is None:
            assert response.status_code == 401, what
            assert response.get_json()["error"] == "unauthorized"
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
        else:
            assert response.status_code == 403, what
            assert response.get_json()["error"] == "forbidden"
    join_jobs(app)


def test_public_metrics_only_when_configured(site_factory: Callable[..., Site]) -> None:
    for public, status in ((True, 200), (False, 401)):
        app = create_app(site_factory(public_metrics=public).config, testing=True)
        response = app.test_client().get("/metrics")
        assert response.status_code == status
        if public:
            assert response.headers["Content-Type"].startswith("text/plain")
            assert b"sitesnap_" in response.data
        web_state(app).catalog.close()


def test_bad_and_revoked_tokens_are_refused(app: Flask) -> None:
    accounts = web_state(app).accounts
    info, token = accounts.create_token("admin", name="ci")
    client = app.test_client()
    assert client.get("/api/v1/sites", headers=bearer(token)).status_code == 200
    assert client.get("/api/v1/sites", headers={"Authorization": "Basic abc"}).status_code == 401
    assert client.get("/api/v1/sites", headers=bearer(token + "x")).status_code == 401
    accounts.revoke_token(info.id)
    assert client.get("/api/v1/sites", headers=bearer(token)).status_code == 401
    assert all(token not in str(t) for t in accounts.list_tokens())  # only the hash is stored


def test_session_login_csrf_and_logout(app: Flask) -> None:
    web_state(app).accounts.add_user("olga", "operator", "s3cret-pass")
    client = app.test_client()
    login = client.post("/api/v1/auth/login", json={"name": "olga", "password": "s3cret-pass"})
    assert login.status_code == 200
    csrf = login.get_json()["csrf_token"]
    cookie = login.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "sitesnap_session=" in cookie
    me = client.get("/api/v1/auth/me").get_json()
    assert me["name"] == "olga" and me["role"] == "operator" and me["csrf_token"] == csrf
    body = {"sources": ["no-such-source"]}
    refused = client.post("/api/v1/backup/create", json=body)
    assert refused.status_code == 403 and "X-CSRF-Token" in refused.get_json()["message"]
    assert client.post("/api/v1/backup/create", json=body, headers={"X-CSRF-Token": "forged"}).status_code == 403
    accepted = client.post("/api/v1/backup/create", json=body, headers={"X-CSRF-Token": csrf})
    assert accepted.status_code == 400  # past auth and CSRF: the source name is what is wrong
    stolen = client.get_cookie("sitesnap_session")
    assert stolen is not None
    assert client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 200
    assert client.get("/api/v1/auth/me").status_code == 401
    replay = app.test_client()
    replay.set_cookie("sitesnap_session", stolen.value)
    assert replay.get("/api/v1/auth/me").status_code == 401  # logout ended the session everywhere
    actions = [e.action for e in web_state(app).catalog.list_audit(actor="olga").items]
    assert {"auth.login", "auth.logout"} <= set(actions)


def test_wrong_passwords_and_rate_limit(site: Site) -> None:
    app = create_app(site.config, testing=True, settings={"SITESNAP_LOGIN_LIMIT": "3 per minute"})
    web_state(app).accounts.add_user("ann", "admin", "right-password")
    client = app.test_client()
    statuses = [client.post("/api/v1/auth/login", json={"name": "ann", "password": "wrong"}).status_code
                for _ in range(4)]
    assert statuses == [401, 401, 401, 429]
    limited = client.post("/api/v1/auth/login", json={"name": "ann", "password": "right-password"})
    assert limited.status_code == 429 and limited.get_json()["error"] == "rate_limited"
    failed = web_state(app).catalog.list_audit(action="auth.login_failed")
    assert failed.total == 3 and failed.items[0].actor == "ann"
    web_state(app).catalog.close()


def test_security_headers_and_error_shape(app: Flask, tokens: dict[str, str]) -> None:
    client = app.test_client()
    for response in (client.get("/api/v1/health"), client.get("/api/v1/nothing-here"),
                     client.delete("/api/v1/health"), client.get("/api/v1/runs?per_page=0",
                                                                   headers=bearer(tokens["viewer"]))):
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        assert response.headers["Referrer-Policy"] == "same-origin"
        if response.status_code >= 400:
            body = response.get_json()
            assert set(body) >= {"error", "message", "exit_code"}
    assert client.get("/api/v1/nothing-here").status_code == 404
    assert client.delete("/api/v1/health").status_code == 405
    invalid = client.get("/api/v1/runs?per_page=0", headers=bearer(tokens["viewer"]))
    assert invalid.status_code == 422 and invalid.get_json()["problems"][0].startswith("query.per_page")


def test_internal_errors_keep_the_shape_and_hide_details(site: Site) -> None:
    app = create_app(site.config, testing=False)
    token = web_state(app).accounts.create_token("viewer")[1]

    @app.get("/api/v1/boom")
    @requires("viewer")
    def boom() -> None:
        raise RuntimeError("database password is hunter2")

    response = app.test_client().get("/api/v1/boom", headers=bearer(token))
    assert response.status_code == 500
    assert response.get_json() == {"error": "internal", "message": "internal server error; see the server log",
                                   "exit_code": 1}
    web_state(app).catalog.close()


def test_no_secrets_in_responses(site: Site, app: Flask, tokens: dict[str, str]) -> None:
    text = site.config.read_text().replace('password = { env = "SITESNAP_TEST_PASSWORD" }',
                                           'password = "inline-repo-secret"')
    site.config.write_text(text)
    app2 = create_app(site.config, testing=True)
    client = app2.test_client()
    accounts = web_state(app2).accounts
    viewer, admin = accounts.create_token("viewer")[1], accounts.create_token("admin")[1]
    for path in ("/api/v1/repositories", "/api/v1/sites", "/api/v1/backup/config", "/api/v1/openapi.json"):
        body = client.get(path, headers=bearer(viewer)).get_data(as_text=True)
        assert "inline-repo-secret" not in body, path
    masked = client.get("/api/v1/backup/config", headers=bearer(viewer)).get_json()
    assert masked["redacted"] is True and 'password = "***"' in masked["toml"]
    full = client.get("/api/v1/backup/config", headers=bearer(admin)).get_json()
    assert full["redacted"] is False and "inline-repo-secret" in full["toml"]
    web_state(app2).catalog.close()


def test_viewers_see_no_secret_that_shares_a_line_or_sits_in_an_alert_channel(site: Site, tokens: dict[str, str],
                                                                               app: Flask) -> None:
    """Several inline secrets on one line, robot tokens in alert URLs and webhook headers are all masked."""
    text = site.config.read_text()
    text += (
        '\n[[repositories]]\nname = "offsite"\nurl = "s3://bucket/blog"\n'
        'password = { env = "SITESNAP_TEST_PASSWORD" }\n'
        's3 = { region = "eu-1", access_key_id = "AKIA-LINE-SECRET", secret_access_key = "SAK-LINE-SECRET" }\n'
    )
    text += (
        '\n[[alerts.channels]]\ntype = "dingtalk"\n'
        'url = "https://oapi.dingtalk.com/robot/send?access_token=DING-ROBOT-SECRET"\n'
        '\n[[alerts.channels]]\ntype = "slack"\nurl = "https://hooks.slack.com/services/T000/B000/SLACK-SECRET"\n'
        '\n[[alerts.channels]]\ntype = "webhook"\nurl = "https://hooks.example.com/x?key=WH-KEY-SECRET"\n'
        'headers = { Authorization = "Bearer HEADER-SECRET" }\n'
    )
    site.config.write_text(text)
    app2 = create_app(site.config, testing=True)
    client = app2.test_client()
    accounts = web_state(app2).accounts
    viewer, admin = accounts.create_token("viewer")[1], accounts.create_token("admin")[1]
    secrets = ("AKIA-LINE-SECRET", "SAK-LINE-SECRET", "DING-ROBOT-SECRET", "SLACK-SECRET", "WH-KEY-SECRET",
               "HEADER-SECRET")
    masked = client.get("/api/v1/backup/config", headers=bearer(viewer)).get_json()
    assert masked["redacted"] is True
    for secret in secrets:
        assert secret not in masked["toml"], secret
    assert 'region = "eu-1"' in masked["toml"]  # what is not secret stays readable
    full = client.get("/api/v1/backup/config", headers=bearer(admin)).get_json()
    assert all(secret in full["toml"] for secret in secrets)
    web_state(app2).catalog.close()


def test_failed_login_with_unknown_name_does_not_record_what_was_typed(site: Site) -> None:
    """A password typed into the name field must not land in the audit log that viewers read."""
    app = create_app(site.config, testing=True)
    web_state(app).accounts.add_user("ann", "admin", "right-password")
    client = app.test_client()
    assert client.post("/api/v1/auth/login", json={"name": "hunter2-secret", "password": "x"}).status_code == 401
    assert client.post("/api/v1/auth/login", json={"name": "ann", "password": "wrong"}).status_code == 401
    failed = web_state(app).catalog.list_audit(action="auth.login_failed").items
    assert sorted(e.actor for e in failed) == ["(unknown user)", "ann"]
    assert all("hunter2" not in str(vars(e)) for e in failed)
    web_state(app).catalog.close()


def test_rate_limit_is_shared_through_the_brokers_redis(site: Site) -> None:
    """Two apps (two server processes of one site) with a Redis broker count the same login attempts."""
    site.config.write_text(site.config.read_text().replace(
        "[runtime]\n", "[runtime]\nbroker = \"redis://127.0.0.1:6379/0\"\n"))
    site.config.write_text(site.config.read_text().replace('name = "blog"', f'name = "blog-{secrets.token_hex(4)}"', 1))
    settings = {"SITESNAP_LOGIN_LIMIT": "3 per minute"}
    first = create_app(site.config, testing=True, settings=settings)
    second = create_app(site.config, testing=True, settings=settings)
    web_state(first).accounts.add_user("ann", "admin", "right-password")
    clients = [first.test_client(), second.test_client()]
    statuses = [clients[i % 2].post("/api/v1/auth/login", json={"name": "ann", "password": "wrong"}).status_code
                for i in range(4)]
    assert statuses == [401, 401, 401, 429]
    assert clients[0].post("/api/v1/auth/login", json={"name": "ann", "password": "wrong"}).status_code == 429
    for app in (first, second):
        web_state(app).catalog.close()


def test_job_names_come_from_the_registries(app: Flask, tokens: dict[str, str]) -> None:
    answer = app.test_client().get("/api/v1/jobs", headers=bearer(tokens["viewer"]))
    assert answer.status_code == 200
    assert answer.get_json() == {"kinds": [k.name for k in KINDS], "scheduled": list(JOBS)}


def test_every_api_route_is_in_the_api_docs(app: Flask) -> None:
    """docs/api.md names every route of the API, path parameters as ``{name}``."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text(encoding="utf-8")
    missing = []
    for method, rule in sorted(_rules(app)):
        if not rule.startswith("/api/v1/") or rule.endswith("openapi.json") or "/docs" in rule:
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule)
        if path not in text:
            missing.append(f"{method} {path}")
    assert missing == []
