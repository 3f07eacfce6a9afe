"""Continuous capture seen by monitoring: the capture reports into the catalog, ``status`` shows
the lag and never says healthy while ``capture_lag`` fires, the scheduler's alert timer fires and
resolves it, ``/metrics`` numbers come from the same rows.

The reports go through :func:`sitesnap.runtime.capture.capture_reporter`, the callback the capture
loop is given; the webhook is a real HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.drill.sites import write_site

from sitesnap.catalog import open_catalog
from sitesnap.config import SiteConfig, load_config
from sitesnap.runtime.capture import capture_reporter, capture_states, report_capture
from sitesnap.runtime.facts import collect_metrics
from sitesnap.runtime.metrics import render_prometheus
from sitesnap.runtime.monitor import site_status
from sitesnap.runtime.scheduler import SiteScheduler

LIVE = '\n[[sources]]\nname = "live"\ntype = "sqlite"\npath = "instance/live.db"\ncontinuous = true\n'


def ns(at: datetime) -> int:
    return int(at.timestamp() * 1_000_000) * 1000


def live_site(root: Path, hook: str | None = None, rpo: str | None = None) -> SiteConfig:
    """The drill blog plus a continuous SQLite source ``live``; ``rpo`` sets ``[alerts] capture_rpo``."""
    cfg = write_site(root, hook=hook, extra=LIVE)
    if rpo is None:
        return cfg
    text = cfg.path.read_text().replace("[alerts]\n", f'[alerts]\ncapture_rpo = "{rpo}"\n', 1)
    cfg.path.write_text(text)
    return load_config(cfg.path)


def record_ok_backup(url: str) -> None:
    catalog = open_catalog(url)
    try:
        run = catalog.start_run("backup", site="blog", repository="local", triggered_by="scheduler")
        catalog.finish_run(run.id, "completed")
    finally:
        catalog.close()


def hooks(receiver: Any) -> list[tuple[str, str]]:
    return [(r.json()["kind"], r.json()["rule"]) for r in receiver.requests if r.path == "/hook"]


def test_reports_accumulate_and_status_shows_the_capture(tmp_path: Path, run_cli: Any) -> None:
    cfg = live_site(tmp_path / "site")
    url = cfg.runtime.catalog_url
    record_ok_backup(url)
    now = datetime.now(UTC)
    catalog = open_catalog(url)
    try:
        report = capture_reporter(catalog, "blog")
        report("live", "ab" * 16, ns(now - timedelta(seconds=40)), 1)  # the base
        report("live", "ab" * 16, ns(now - timedelta(seconds=3)), 2)
        report("live", "ab" * 16, ns(now - timedelta(seconds=20)), 1)  # an older time never moves it back
        (state,) = capture_states(catalog, cfg)
        state_json = site_status(catalog, cfg)
        report("live", "ab" * 16, None, 0, ns(now - timedelta(hours=2)))  # a restart tells the window it resumed
        (resumed,) = capture_states(catalog, cfg)
    finally:
        catalog.close()
    assert state.segments_total == 4 and state.source == "live"
    assert resumed.segments_total == 4 and resumed.last_shipped == state.last_shipped
    assert resumed.oldest_restorable is not None
    assert abs((now - resumed.oldest_restorable).total_seconds() - 7200) < 0.01
    assert state.oldest_restorable is not None and state.last_shipped is not None
    assert abs((now - state.oldest_restorable).total_seconds() - 40) < 0.01
    assert abs((now - state.last_shipped).total_seconds() - 3) < 0.01
    assert state_json["healthy"] is True
    live = next(s for s in state_json["sources"] if s["name"] == "live")
    assert live["continuous"] is True and live["capture"]["within_rpo"] is True
    assert 0 <= live["capture"]["lag_seconds"] < 30
    assert [s["capture"] for s in state_json["sources"] if s["name"] != "live"] == [None, None]

    out = run_cli("-c", str(cfg.path), "status", "--json", password=None)
    (site,) = json.loads(out.stdout)["sites"]
    cap = next(s for s in site["sources"] if s["name"] == "live")["capture"]
    assert cap["last_shipped_at"] == state.last_shipped.isoformat()
    assert cap["oldest_restorable_at"] == resumed.oldest_restorable.isoformat()
    human = run_cli("-c", str(cfg.path), "status", password=None)
    assert "capture       live: lag" in human.stdout and "within capture RPO of 60s" in human.stdout


def test_status_is_not_healthy_while_the_capture_lags(tmp_path: Path, run_cli: Any) -> None:
    cfg = live_site(tmp_path / "site")
    url = cfg.runtime.catalog_url
    record_ok_backup(url)
    old = datetime.now(UTC) - timedelta(minutes=10)
    catalog = open_catalog(url)
    try:
        report_capture(catalog, "blog", "live", generation="cd" * 16, newest_commit_ns=ns(old), segments=3, at=old)
        assert catalog.list_alert_states(site="blog") == []  # nothing evaluated yet
    finally:
        catalog.close()
    out = run_cli("-c", str(cfg.path), "status", "--json", password=None)
    (site,) = json.loads(out.stdout)["sites"]
    assert site["last_backup"]["within_rpo"] is True
    assert site["healthy"] is False
    assert [a["rule"] for a in site["firing_alerts"]] == ["capture_lag/live"]
    cap = next(s for s in site["sources"] if s["name"] == "live")["capture"]
    assert cap["within_rpo"] is False and cap["lag_seconds"] > 590
    human = run_cli("-c", str(cfg.path), "status", password=None)
    assert "NEEDS ATTENTION" in human.stdout and "BEYOND capture RPO" in human.stdout


def test_the_scheduler_timer_fires_and_resolves_capture_lag(tmp_path: Path, receiver: Any) -> None:
    cfg = live_site(tmp_path / "site", hook=receiver.url("/hook"), rpo="5s")
    url = cfg.runtime.catalog_url
    record_ok_backup(url)
    catalog = open_catalog(url)
    old = datetime.now(UTC) - timedelta(seconds=30)
    report_capture(catalog, "blog", "live", generation="ef" * 16, newest_commit_ns=ns(old), segments=1, at=old)
    sched = SiteScheduler(cfg, catalog, alert_interval=0.2)
    try:
        sched.start()
        deadline = time.monotonic() + 20
        while ("firing", "capture_lag") not in hooks(receiver) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert hooks(receiver) == [("firing", "capture_lag")]
        report = capture_reporter(catalog, "blog")
        report("live", "ef" * 16, ns(datetime.now(UTC)), 1)  # the capture catches up
        while ("resolved", "capture_lag") not in hooks(receiver) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        sched.shutdown()
        catalog.close()
    assert hooks(receiver) == [("firing", "capture_lag"), ("resolved", "capture_lag")]


def test_metrics_show_lag_segments_and_oldest_restorable_time(tmp_path: Path) -> None:
    cfg = live_site(tmp_path / "site")
    url = cfg.runtime.catalog_url
    now = datetime.now(UTC)
    catalog = open_catalog(url)
    try:
        report_capture(catalog, "blog", "live", newest_commit_ns=ns(now - timedelta(seconds=100)), segments=1,
                       at=now - timedelta(seconds=100))
        report_capture(catalog, "blog", "live", newest_commit_ns=ns(now - timedelta(seconds=7)), segments=4,
                       at=now - timedelta(seconds=7))
        text = render_prometheus(collect_metrics(catalog, [cfg], now, measure=lambda _r: None)).decode()
    finally:
        catalog.close()
    assert 'sitesnap_capture_lag_seconds{site="blog",source="live"} 7.0' in text
    assert 'sitesnap_capture_segments_total{site="blog",source="live"} 5.0' in text
    oldest = (now - timedelta(seconds=100)).timestamp()
    line = next(x for x in text.splitlines() if x.startswith("sitesnap_capture_oldest_restorable_timestamp_seconds{"))
    assert abs(float(line.split()[-1]) - oldest) < 0.01
    assert 'source="db"' not in "".join(x for x in text.splitlines() if x.startswith("sitesnap_capture_"))
