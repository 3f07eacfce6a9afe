"""An admin manages users and tokens on the Users page; other roles are not offered it."""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from typing import Any

import pytest
from tests.browser.conftest import SITESNAP, ApiClient, Console, Served, _env

pytestmark = pytest.mark.browser


def _token(served: Served, role: str) -> tuple[int, str]:
    done = subprocess.run([SITESNAP, "-c", str(served.config), "--json", "token", "create", "--role", role,
                           "--name", "console-test"], env=_env(), check=True, capture_output=True, text=True,
                          timeout=120)
    info = json.loads(done.stdout)
    return int(info["id"]), str(info["token"])


def _status_with(served: Served, token: str) -> int:
    request = urllib.request.Request(served.url + "api/v1/sites", headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def _row(console: Console, name: str) -> Any:
    return console.page.locator(f"[data-test=user-row][data-name='{name}']")


def test_an_admin_adds_changes_resets_and_removes_a_user(console: Console, served: Served, api: ApiClient) -> None:
    page = console.page
    console.expected_statuses.add(400)  # demoting the only admin is refused, on purpose
    token_id, token = _token(served, "viewer")
    assert _status_with(served, token) == 200
    console.login("admin")
    page.click("#mainnav >> text=Users")
    page.wait_for_selector("[data-test=users][data-loaded=true]")
    assert _row(console, "admin").get_attribute("data-role") == "admin"
    assert _row(console, "viewer").get_attribute("data-role") == "viewer"

    page.fill("[data-test=new-user-name]", "carol")
    page.select_option("[data-test=new-user-role]", "operator")
    page.fill("[data-test=new-user-password]", "carol-password-1")
    page.click("[data-test=new-user-submit]")
    _row(console, "carol").wait_for()
    assert _row(console, "carol").get_attribute("data-role") == "operator"
    _row(console, "carol").locator("[data-test=user-role]").select_option("viewer")
    page.wait_for_selector("[data-test=user-row][data-name=carol][data-role=viewer]")

    _row(console, "carol").locator("[data-test=user-reset]").click()
    page.fill("[data-test=reset-password]", "carol-password-2")
    page.click("[data-test=reset-submit]")
    page.wait_for_selector("[role=dialog]", state="detached")
    carol = ApiClient(served.url)
    assert carol.call("POST", "auth/login", {"name": "carol", "password": "carol-password-1"})[0] == 401
    carol.login("carol", "carol-password-2")
    assert carol.call("GET", "auth/me")[1]["role"] == "viewer"
    console.shot("users")

    # The only admin keeps the role: the API refuses, the page says why and shows the role unchanged.
    _row(console, "admin").locator("[data-test=user-role]").select_option("viewer")
    page.wait_for_selector("[data-test=error]")
    assert "only admin" in page.inner_text("[data-test=error]")
    page.wait_for_selector("[data-test=user-row][data-name=admin][data-role=admin]")
    assert _row(console, "admin").locator("[data-test=user-role]").input_value() == "admin"

    page.locator(f"[data-test=token-row][data-id='{token_id}'] [data-test=token-revoke]").click()
    page.wait_for_selector(f"[data-test=token-row][data-id='{token_id}'][data-revoked=true]")
    assert _status_with(served, token) == 401
    assert token not in page.content()

    _row(console, "carol").locator("[data-test=user-remove]").click()
    page.click("[data-test=remove-confirm]")
    _row(console, "carol").wait_for(state="detached")
    assert carol.call("GET", "auth/me")[0] == 401
    _, audit = api.call("GET", "audit?actor=admin&per_page=200")
    done = {(e["action"], e["target"]) for e in audit["items"]}
    assert {("user.add", "carol"), ("user.role", "carol"), ("user.passwd", "carol"), ("user.remove", "carol"),
            ("token.revoke", f"token:{token_id}")} <= done


def test_a_viewer_is_not_offered_the_users_page(console: Console, served: Served) -> None:
    page = console.page
    console.expected_statuses.add(403)
    console.login("viewer")
    assert "Users" not in page.inner_text("#mainnav")
    console.open("users")
    page.wait_for_url("**/#/dashboard")
    response = page.request.get(served.url + "api/v1/users")
    assert response.status == 403 and response.json()["error"] == "forbidden"


def test_the_users_page_in_chinese(make_console: Any) -> None:
    console = make_console(locale="zh-CN")
    page = console.page
    console.login("admin")
    assert "用户" in page.inner_text("#mainnav")
    console.open("users")
    page.wait_for_selector("[data-test=users][data-loaded=true]")
    assert page.inner_text("h1") == "用户"
    assert "添加用户" in page.inner_text("[data-test=user-add]")
