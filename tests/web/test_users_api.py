"""The admins' user management API: add, change role, reset password, remove, revoke tokens — audited,
refused to everyone else, and never leaving the site without an admin."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from tests.web.conftest import bearer

from sitesnap.web import web_state
from sitesnap.web.openapi import openapi_path


def test_an_admin_manages_users_and_every_change_is_audited(app: Flask, tokens: dict[str, str]) -> None:
    client = app.test_client()
    admin = bearer(tokens["admin"])
    added = client.post("/api/v1/users", json={"name": "olga", "role": "viewer", "password": "first-pass-1"},
                        headers=admin)
    assert added.status_code == 201, added.get_json()
    assert added.get_json()["role"] == "viewer"
    assert set(added.get_json()) == {"id", "name", "role", "active", "created_at", "last_login"}
    taken = client.post("/api/v1/users", json={"name": "olga", "role": "admin", "password": "another-pass"},
                        headers=admin)
    assert taken.status_code == 400 and "already exists" in taken.get_json()["message"]
    listed = client.get("/api/v1/users", headers=admin).get_json()
    assert [(u["name"], u["role"]) for u in listed] == [("olga", "viewer")]

    # Olga logs in; a role change and a password reset each end her session.
    olga = app.test_client()
    assert olga.post("/api/v1/auth/login", json={"name": "olga", "password": "first-pass-1"}).status_code == 200
    changed = client.patch("/api/v1/users/olga", json={"role": "operator"}, headers=admin)
    assert changed.status_code == 200 and changed.get_json()["role"] == "operator"
    assert olga.get("/api/v1/auth/me").status_code == 401
    assert client.patch("/api/v1/users/olga", json={"password": "second-pass-2"}, headers=admin).status_code == 200
    assert olga.post("/api/v1/auth/login", json={"name": "olga", "password": "first-pass-1"}).status_code == 401
    relogin = olga.post("/api/v1/auth/login", json={"name": "olga", "password": "second-pass-2"})
    assert relogin.status_code == 200 and relogin.get_json()["role"] == "operator"

    assert client.delete("/api/v1/users/olga", headers=admin).status_code == 200
    assert client.get("/api/v1/users", headers=admin).get_json() == []
    assert client.delete("/api/v1/users/olga", headers=admin).status_code == 404
    actions = [(e.action, e.target) for e in web_state(app).catalog.list_audit(per_page=100).items
               if e.action.startswith("user.")]
    assert sorted(actions) == sorted([("user.add", "olga"), ("user.role", "olga"), ("user.passwd", "olga"),
                                      ("user.remove", "olga")])
    assert all("pass" not in str(e.details) for e in web_state(app).catalog.list_audit(per_page=100).items)


def test_short_passwords_bad_roles_and_names_are_refused(app: Flask, tokens: dict[str, str]) -> None:
    client = app.test_client()
    admin = bearer(tokens["admin"])
    for body in ({"name": "ann", "role": "viewer", "password": "short"},
                 {"name": "ann", "role": "root", "password": "long-enough-1"},
                 {"name": "a/b", "role": "viewer", "password": "long-enough-1"}):
        answer = client.post("/api/v1/users", json=body, headers=admin)
        assert answer.status_code == 422, (body, answer.get_json())
        assert answer.get_json()["problems"]
    assert client.get("/api/v1/users", headers=admin).get_json() == []


def test_the_only_admin_is_neither_demoted_nor_removed(app: Flask, tokens: dict[str, str]) -> None:
    client = app.test_client()
    admin = bearer(tokens["admin"])
    web_state(app).accounts.add_user("root", "admin", "root-password")
    for answer in (client.patch("/api/v1/users/root", json={"role": "viewer", "password": "changed-pass"},
                                headers=admin),
                   client.delete("/api/v1/users/root", headers=admin)):
        assert answer.status_code == 400
        assert "only admin" in answer.get_json()["message"] and answer.get_json()["hint"]
    # Refused as a whole: the password of the combined call did not change either.
    assert web_state(app).accounts.verify_password("root", "root-password") is not None
    web_state(app).accounts.add_user("second", "admin", "second-password")
    assert client.patch("/api/v1/users/root", json={"role": "viewer"}, headers=admin).status_code == 200
    assert client.delete("/api/v1/users/second", headers=admin).status_code == 400


def test_tokens_are_listed_without_their_secret_and_revoked(app: Flask, tokens: dict[str, str]) -> None:
    client = app.test_client()
    admin = bearer(tokens["admin"])
    listed = client.get("/api/v1/users/tokens", headers=admin)
    assert listed.status_code == 200
    body = listed.get_data(as_text=True)
    assert all(secret not in body for secret in tokens.values())
    viewer = next(t for t in listed.get_json() if t["name"] == "test-viewer")
    assert client.get("/api/v1/sites", headers=bearer(tokens["viewer"])).status_code == 200
    revoked = client.post(f"/api/v1/users/tokens/{viewer['id']}/revoke", headers=admin)
    assert revoked.status_code == 200 and revoked.get_json()["revoked"] is True
    assert client.get("/api/v1/sites", headers=bearer(tokens["viewer"])).status_code == 401
    audit = web_state(app).catalog.list_audit(action="token.revoke").items
    assert [e.target for e in audit] == [f"token:{viewer['id']}"]


def test_viewers_and_operators_get_403(app: Flask, tokens: dict[str, str]) -> None:
    client = app.test_client()
    web_state(app).accounts.add_user("olga", "viewer", "first-pass-1")
    for role in ("viewer", "operator"):
        headers = bearer(tokens[role])
        for method, path, body in (("GET", "/api/v1/users", None),
                                   ("POST", "/api/v1/users", {"name": "eve", "role": "admin",
                                                              "password": "takeover-1"}),
                                   ("PATCH", "/api/v1/users/olga", {"role": "admin"}),
                                   ("DELETE", "/api/v1/users/olga", None),
                                   ("GET", "/api/v1/users/tokens", None),
                                   ("POST", "/api/v1/users/tokens/1/revoke", None)):
            answer = client.open(path, method=method, json=body, headers=headers)
            assert answer.status_code == 403, (role, method, path, answer.get_json())
    assert [u.role for u in web_state(app).accounts.list_users()] == ["viewer"]
    assert not any(t.revoked for t in web_state(app).accounts.list_tokens())


def test_every_users_route_is_documented(app: Flask) -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text(encoding="utf-8")
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/users"):
            for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
                assert f"`{method} {openapi_path(rule.rule)}`" in text, (method, rule.rule)


def test_the_users_routes_are_in_the_openapi_spec(app: Flask, tokens: dict[str, str]) -> None:
    spec = app.test_client().get("/api/v1/openapi.json", headers=bearer(tokens["viewer"])).get_json()
    assert {"get", "post"} <= set(spec["paths"]["/api/v1/users"])
    assert {"patch", "delete"} <= set(spec["paths"]["/api/v1/users/{name}"])
    revoke = spec["paths"]["/api/v1/users/tokens/{token_id}/revoke"]["post"]
    assert "403" in revoke["responses"] and revoke["security"]
