"""Restoring over live data asks for the site's name; the timeline says what its dots mean."""

from __future__ import annotations

import pytest
from tests.browser.conftest import SITE, Console

pytestmark = pytest.mark.browser


def test_restoring_over_live_data_still_asks_for_the_site_name(console: Console) -> None:
    page = console.page
    console.login("admin")
    console.open("records?status=completed")
    page.locator("[data-test=record-row] [data-test=restore]").first.click()
    page.wait_for_selector("[data-test=restore-choose]")
    legend = page.eval_on_selector_all("[data-test=timeline-legend] li", "els => els.map((e) => e.dataset.type)")
    dots = page.eval_on_selector_all(".timeline .timeline-dot", "els => els.map((e) => e.className)")
    assert legend and all(any(f"tt-{kind}" in dot for dot in dots) for kind in legend), (legend, dots)
    for source in ("uploads", "shop"):
        page.uncheck(f"[data-test=restore-source-{source}]")
    page.click("[data-test=restore-preview]")
    page.locator("[data-test=plan-item]").wait_for()
    assert "in place" in page.inner_text("[data-test=plan-item]")
    assert page.locator("[data-test=restore-nothing-live]").count() == 0
    execute = page.locator("[data-test=restore-execute]")
    assert execute.is_disabled()
    page.fill("[data-test=restore-confirm]", "not-the-site")
    assert execute.is_disabled()
    page.fill("[data-test=restore-confirm]", SITE)
    assert execute.is_enabled()
    page.keyboard.press("Escape")  # reviewed, not run: the live database stays as it is
    page.wait_for_selector("[data-test=restore-plan]", state="detached")
