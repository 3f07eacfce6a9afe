"""Layout promises: the dashboard's charts pair up in rows, the backups list fits a 375 px phone."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.browser

PHONE = 375


@pytest.mark.parametrize("width", [1280, 1680])
def test_no_dashboard_chart_sits_alone_on_its_row(make_console: Any, width: int) -> None:
    console = make_console(viewport={"width": width, "height": 900})
    page = console.page
    console.login("admin")
    page.wait_for_selector("[data-test=dashboard][data-loaded=true]")
    tops = page.eval_on_selector_all(".charts > figure",
                                     "els => els.map((e) => Math.round(e.getBoundingClientRect().top))")
    rows: dict[int, int] = {}
    for top in tops:
        rows[top] = rows.get(top, 0) + 1
    assert len(tops) == 4 and sorted(rows.values()) == [2, 2], f"figures per row at {width}px: {rows}"
    assert "Pre-restore" in page.inner_text("[data-test=dedup-note]")


def test_the_backups_list_fits_a_phone_with_its_actions_in_view(make_console: Any) -> None:
    console = make_console(viewport={"width": PHONE, "height": 812}, is_mobile=True, has_touch=True)
    page = console.page
    console.login("admin")
    console.open("records")
    row = page.locator("[data-test=record-row]").first
    row.wait_for()
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE
    wrap = page.evaluate("() => { const w = document.querySelector('.table-wrap'); "
                         "return [w.scrollWidth, w.clientWidth] }")
    assert wrap[0] <= wrap[1], f"the backups table scrolls sideways: {wrap}"
    for action in ("restore", "delete"):
        button = row.locator(f"[data-test={action}]")
        box = button.bounding_box()
        assert box is not None and button.is_visible()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE, f"{action} is out of view: {box}"
    labels = row.evaluate("r => [...r.querySelectorAll('td')].map((td) => getComputedStyle(td, '::before').content)")
    assert '"Size"' in labels and '"Dedup"' in labels, f"each card names its fields: {labels}"
    console.shot("phone-records-cards")
