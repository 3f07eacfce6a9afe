"""The console in a real browser against a real server: every page, every dialog, both languages, both roles.

Tests share one server (see conftest) and run in file order, but each one
checks only what it did itself: a backup it created, a restore it ran, a
schedule it changed.
"""

from __future__ import annotations

import gzip
import re
from typing import Any

import psycopg
import pytest

from sitesnap.runtime.jobs import KINDS

from .conftest import CONSOLE_DIR, ORDERS, ApiClient, Console, Served, pg_url

pytestmark = pytest.mark.browser

BUNDLE_LIMIT = 500 * 1024


def test_js_bundle_is_under_500_kb_gzipped(console_built: Any) -> None:
    scripts = sorted((CONSOLE_DIR / "assets").glob("*.js"))
    assert scripts, "no JavaScript in the built console"
    total = sum(len(gzip.compress(path.read_bytes(), compresslevel=9)) for path in scripts)
    assert total < BUNDLE_LIMIT, f"the console's JavaScript is {total / 1024:.0f} KiB gzipped"


def test_first_contentful_paint_under_one_second(console: Console) -> None:
    console.open()
    console.page.wait_for_selector("[data-test=login-form]")
    paint = console.page.evaluate(
        "() => performance.getEntriesByType('paint').map((e) => [e.name, e.startTime])")
    fcp = dict(paint).get("first-contentful-paint")
    assert fcp is not None, f"no first-contentful-paint entry: {paint}"
    assert fcp < 1000, f"first contentful paint took {fcp:.0f} ms"
    console.shot("login")


def test_admin_creates_a_backup_and_watches_it_finish_across_a_reload(console: Console, api: ApiClient) -> None:
    page = console.page
    console.login("admin")
    console.open("records")
    page.click("[data-test=new-backup]")
    page.check("[data-test=type-full]")
    page.fill("[data-test=create-tags]", "console-e2e, before-upgrade")
    console.shot("create-backup", full_page=False)
    page.click("[data-test=create-submit]")
    page.wait_for_selector("[data-test=active-run]")
    run_id = re.search(r"run=([\w-]+)", page.url)
    assert run_id, f"the run is not in the URL: {page.url}"
    # A reload (or a new visit) finds the run again, from the URL or from localStorage.
    page.reload()
    page.wait_for_selector("[data-test=run-progress]")
    done = page.wait_for_selector("[data-test=backup-done]", timeout=120_000)
    assert done.is_visible()
    assert page.get_attribute("[data-test=run-progress]", "data-status") == "completed"
    assert page.get_attribute("[role=progressbar]", "aria-valuenow") == "100"
    run = api.wait_run(run_id.group(1))
    assert run["status"] == "completed" and run["kind"] == "backup"
    snapshot = run["result"]["snapshot_id"]
    row = page.locator(f"[data-test=record-row][data-id='{snapshot}']")
    row.wait_for()
    assert "console-e2e" in row.inner_text() and "before-upgrade" in row.inner_text()
    assert row.get_attribute("data-type") == "full"
    assert "local ✓" in row.inner_text()
    console.shot("records")
    page.click("[data-test=dismiss-run]")
    page.wait_for_selector("[data-test=active-run]", state="detached")
    assert "run=" not in page.url


def test_filter_search_and_sort_the_records(console: Console, api: ApiClient) -> None:
    page = console.page
    _, every = api.call("GET", "backup/records?per_page=100")
    kinds = {r["backup_type"] for r in every["items"]}
    assert {"incremental", "full"} <= kinds, "earlier tests made an incremental and a full backup"
    console.login("admin")
    console.open("records")
    rows = page.locator("[data-test=record-row]")
    rows.first.wait_for()
    assert rows.count() == every["total"]

    page.select_option("[data-test=filter-type]", "full")
    page.wait_for_function("() => [...document.querySelectorAll('[data-test=record-row]')]"
                           ".every((r) => r.dataset.type === 'full')")
    assert "type=full" in page.url
    assert rows.count() == sum(1 for r in every["items"] if r["backup_type"] == "full")

    page.select_option("[data-test=filter-type]", "")
    page.fill("[data-test=filter-q]", "console-e2e")
    page.wait_for_function("() => document.querySelectorAll('[data-test=record-row]').length === 1")
    assert "console-e2e" in rows.first.inner_text()

    page.click("[data-test=filter-reset]")
    page.wait_for_function(f"() => document.querySelectorAll('[data-test=record-row]').length === {every['total']}")
    page.click("[data-test=sort-file_size]")
    page.wait_for_function("() => location.hash.includes('sort=-file_size')")
    _, by_size = api.call("GET", "backup/records?sort=-file_size&per_page=100")
    page.wait_for_function(f"() => document.querySelector('[data-test=record-row]')?.dataset.id === "
                           f"'{by_size['items'][0]['backup_id']}'")
    console.shot("records-filtered")


def test_restore_a_snapshot_into_a_second_database(console: Console, api: ApiClient, served: Served) -> None:
    page = console.page
    with psycopg.connect(pg_url(served.pg_db), autocommit=True) as conn:
        expected = conn.execute("SELECT id, item, cents FROM orders ORDER BY id").fetchall()
    assert len(expected) == ORDERS
    console.login("admin")
    console.open("records?type=full")
    page.locator("[data-test=record-row] [data-test=restore]").first.click()
    page.wait_for_selector("[data-test=restore-choose]")
    for source in ("uploads", "posts"):
        page.uncheck(f"[data-test=restore-source-{source}]")
    page.check("[data-test=elsewhere-shop]")
    page.fill("[data-test=target-shop]", pg_url(served.restored_db))
    legend = page.locator("[data-test=timeline-legend] li")
    assert legend.count() >= 1 and "Full" in page.inner_text("[data-test=timeline-legend]")
    console.shot("restore-choose", full_page=False)
    page.click("[data-test=restore-preview]")
    item = page.locator("[data-test=plan-item]")
    item.wait_for()
    assert item.count() == 1
    text = item.inner_text()
    assert served.restored_db in text and "shop" in text
    assert str(ORDERS) in text, f"rows after restore missing from the plan: {text}"
    # Nothing live is overwritten: no site name to type, as on the command line (the typed
    # confirmation over live data is tested in test_console_restore.py).
    assert page.locator("[data-test=restore-confirm]").count() == 0
    assert page.is_visible("[data-test=restore-nothing-live]")
    execute = page.locator("[data-test=restore-execute]")
    assert execute.is_enabled()
    console.shot("restore-plan", full_page=False)
    execute.click()
    result = page.wait_for_selector("[data-test=restore-result]", timeout=120_000)
    assert result.get_attribute("data-status") == "completed", result.inner_text()
    assert page.locator("[data-test=verified]").count() == 1
    assert f"{ORDERS} rows" in page.locator("[data-test=result-item]").inner_text()
    console.shot("restore-result", full_page=False)
    page.keyboard.press("Escape")
    page.wait_for_selector("[data-test=restore-result]", state="detached")

    with psycopg.connect(pg_url(served.restored_db), autocommit=True) as conn:
        restored = conn.execute("SELECT id, item, cents FROM orders ORDER BY id").fetchall()
    assert restored == expected
    with psycopg.connect(pg_url(served.pg_db), autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM orders").fetchone() == (ORDERS,)
    _, audit = api.call("GET", "audit?action=restore.start")
    assert audit["total"] >= 1
    _restore_to_a_point_in_time_on_the_time_bar(console, api)


def _restore_to_a_point_in_time_on_the_time_bar(console: Console, api: ApiClient) -> None:
    """The restore dialog's time bar: pick a time inside the window by clicking, see the plan as of it.

    Part of the restore test, in its logged-in page: logins are rate limited per minute.
    """
    page = console.page
    console.open("records")
    page.locator("[data-test=record-row] [data-test=restore]").first.click()
    page.wait_for_selector("[data-test=restore-choose]")
    page.check("[data-test=mode-time]")
    page.wait_for_selector("[data-test=time-snapshot]")
    _, timeline = api.call("GET", "backup/timeline")
    assert page.locator("[data-test=time-snapshot]").count() == len(timeline["snapshots"]) >= 1
    assert "snapshot" in page.locator("[data-test=time-legend]").inner_text()
    bar = page.locator("[data-test=time-bar] .timebar")
    box = bar.bounding_box()
    assert box is not None
    bar.click(position={"x": box["width"] * 0.9, "y": box["height"] / 2})  # inside the restorable span
    page.wait_for_selector("[data-test=time-marker]")
    chosen = page.input_value("[data-test=restore-at]")
    assert chosen, "a click on the time bar chooses a time"
    page.click("[data-test=restore-preview]")
    page.wait_for_selector("[data-test=plan-at]")
    items = page.locator("[data-test=plan-item]")
    assert items.count() == 3
    assert page.locator("[data-test=plan-time]").count() == 3
    distances = page.locator("[data-test=plan-distance]").all_inner_texts()
    assert len(distances) == 3 and all("before" in d or "exactly" in d for d in distances), distances
    _, audit = api.call("GET", "audit?action=restore.plan")
    newest = audit["items"][0]["details"]
    assert newest["at"] is not None and newest["at"][:16] == _utc_minute(page, chosen)
    page.keyboard.press("Escape")


def _utc_minute(page: Any, local_input: str) -> str:
    """The browser's reading of a ``datetime-local`` value as a UTC ISO string, to the minute."""
    return str(page.evaluate("(v) => new Date(v).toISOString()", local_input))[:16]


def test_change_a_schedule_with_validation(console: Console, api: ApiClient, served: Served) -> None:
    page = console.page
    console.login("admin")
    console.open("config")
    page.click("[data-test=tab-schedule]")
    field = page.locator("[data-test=schedule-full]")
    field.fill("0 2 * *")
    error = page.locator("#s-full-err")
    assert "five fields" in error.inner_text()
    assert page.locator("[data-test=config-save]").is_disabled()
    assert "schedule.full" in page.locator("[data-test=config-problems]").inner_text()
    field.fill("15 1 * * 0")
    assert error.inner_text() == ""
    page.click("[data-test=config-save]")
    page.wait_for_selector("[data-test=config-saved]")
    console.shot("config")
    on_disk = served.config.read_text()
    assert re.search(r'^full = "15 1 \* \* 0"$', on_disk, re.M), on_disk
    _, saved = api.call("GET", "backup/config")
    assert '"15 1 * * 0"' in saved["toml"]

    # The server's own validation: a syntax error is caught here, a semantic one there, with line and key.
    console.expected_statuses.add(400)
    page.click("[data-test=tab-toml]")
    text = page.locator("[data-test=toml-text]")
    text.fill(saved["toml"] + "\n[schedule\n")
    page.wait_for_selector("[data-test=toml-syntax]")
    assert page.locator("[data-test=config-save]").is_disabled()
    text.fill(saved["toml"].replace('full = "15 1 * * 0"', 'full = "15 1 * * 0"\nfulll = "0 1 * * *"'))
    page.click("[data-test=config-save]")
    problem = page.locator("[data-test=problems]")
    problem.wait_for()
    assert "fulll" in problem.inner_text()
    assert served.config.read_text() == on_disk, "an invalid configuration was written"


def test_dashboard_runs_and_audit_pages(console: Console, served: Served) -> None:
    page = console.page
    console.login("admin")
    page.wait_for_selector("[data-test=dashboard][data-loaded=true]")
    assert page.inner_text("[data-test=rate-24h]") == "100.0 %"
    assert page.inner_text("[data-test=last-success]") != "—"
    if served.seeded["drill"]["status"] == "completed":
        assert "never" not in page.inner_text("[data-test=site-health]")
    assert page.locator("canvas").count() >= 3
    assert "local" in page.inner_text("[data-test=storage-row]")
    console.shot("dashboard")

    console.open("runs")
    page.locator("[data-test=run-row]").first.wait_for()
    kinds = page.inner_text("[data-test=runs-table]")
    assert "Backup" in kinds and "Restore" in kinds
    page.locator("[data-test=filter-kind] option[value=drill]").wait_for(state="attached")
    offered = page.eval_on_selector_all("[data-test=filter-kind] option", "els => els.map(e => e.value)")
    assert offered == ["", *(k.name for k in KINDS)]  # "all", then the job kinds registry, in its order
    console.shot("runs")
    page.locator("[data-test=run-row] a").first.click()
    page.wait_for_selector("[data-test=run-progress][data-status=completed]")
    console.shot("run")

    console.open("audit")
    page.locator("[data-test=audit-row]").first.wait_for()
    actions = page.eval_on_selector_all("[data-test=audit-row]", "rows => rows.map((r) => r.dataset.action)")
    assert {"backup.create", "restore.start", "config.update", "auth.login"} <= set(actions)
    page.fill("[data-test=audit-action]", "config.update")
    page.wait_for_function("() => [...document.querySelectorAll('[data-test=audit-row]')]"
                           ".every((r) => r.dataset.action === 'config.update')")
    console.shot("audit")


def test_switch_to_chinese_in_the_users_time_zone(make_console: Any) -> None:
    console = make_console(timezone_id="Asia/Shanghai")
    page = console.page
    console.login("admin")
    assert page.inner_text("#mainnav").startswith("Dashboard")
    page.select_option("[data-test=lang]", "zh-CN")
    page.wait_for_function("() => document.documentElement.lang === 'zh-CN'")
    assert "备份" in page.inner_text("#mainnav")
    assert "Asia/Shanghai" in page.inner_text("footer")
    console.open("records")
    page.locator("[data-test=record-row]").first.wait_for()
    assert "新建备份" in page.inner_text("[data-test=new-backup]")
    console.shot("records-zh")
    page.reload()
    page.wait_for_selector("[data-test=new-backup]")
    assert page.inner_text("[data-test=new-backup]") == "新建备份", "the language choice did not survive a reload"
    # A browser that prefers Chinese gets Chinese without choosing.
    fresh = make_console(locale="zh-CN")
    fresh.open()
    fresh.page.wait_for_selector("[data-test=login-submit]")
    assert fresh.page.inner_text("[data-test=login-submit]") == "登录"


def test_a_viewer_is_offered_nothing_it_may_not_do_and_the_api_refuses_it(console: Console,
                                                                         served: Served) -> None:
    page = console.page
    console.login("viewer")
    console.open("records")
    page.locator("[data-test=record-row]").first.wait_for()
    for button in ("new-backup", "restore", "delete"):
        assert page.locator(f"[data-test={button}]").count() == 0, f"a viewer sees {button}"
    console.open("config")
    page.wait_for_selector("[data-test=tab-toml]")
    assert page.locator("[data-test=config-save]").count() == 0
    console.shot("viewer-records-readonly-config")
    # The same session, calling the API directly with its CSRF token: refused.
    me = page.request.get(served.url + "api/v1/auth/me").json()
    assert me["role"] == "viewer"
    headers = {"X-CSRF-Token": me["csrf_token"], "Content-Type": "application/json"}
    record = page.request.get(served.url + "api/v1/backup/records?per_page=1").json()["items"][0]["backup_id"]
    attempts = [
        ("post", "api/v1/backup/create", {"type": "snapshot"}),
        ("post", f"api/v1/backup/{record}/restore", {"dry_run": True}),
        ("delete", f"api/v1/backup/{record}", None),
        ("put", "api/v1/backup/config", {"toml": served.config.read_text()}),
    ]
    for method, path, body in attempts:
        response = getattr(page.request, method)(served.url + path, headers=headers,
                                                  data=None if body is None else body)
        assert response.status == 403, f"{method.upper()} {path}: {response.status} {response.text()}"
        assert response.json()["error"] == "forbidden"


def test_phone_layout_and_keyboard(make_console: Any) -> None:
    console = make_console(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = console.page
    console.login("admin")
    console.open("records")
    page.locator("[data-test=record-row]").first.wait_for()
    assert not page.is_visible("#mainnav")
    page.click(".menu-toggle")
    assert page.is_visible("#mainnav")
    page.click(".menu-toggle")
    width = page.evaluate("() => document.documentElement.scrollWidth")
    wide = page.evaluate("() => [...document.querySelectorAll('body *')]"
                         ".filter((e) => e.getBoundingClientRect().right > 392 && !e.closest('tbody, thead'))"
                         ".slice(0, 5).map((e) => e.tagName + '.' + e.className)")
    assert width <= 390, f"the page scrolls sideways on a phone ({width}px): {wide}"
    console.shot("phone-records")
    # Keyboard: the dialog opens from its button, traps focus, closes with Esc and gives focus back.
    opener = page.locator("[data-test=new-backup]")
    opener.focus()
    page.keyboard.press("Enter")
    page.wait_for_selector("[role=dialog]")
    assert page.evaluate("() => document.querySelector('[role=dialog]').contains(document.activeElement)")
    for _ in range(12):
        page.keyboard.press("Tab")
        assert page.evaluate("() => document.querySelector('[role=dialog]').contains(document.activeElement)")
    console.shot("phone-create-backup", full_page=False)
    page.keyboard.press("Escape")
    page.wait_for_selector("[role=dialog]", state="detached")
    assert page.evaluate("() => document.activeElement?.dataset.test") == "new-backup"
