"""Alerts fire by themselves: after every recorded run, on the long-running processes' timer,
de-duplicated across processes, and ``status`` never says healthy while a rule fires.

Nobody runs ``sitesnap alert check`` here; the webhook is a real HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.drill.sites import flip_byte, packs, write_site

from sitesnap.catalog import open_catalog
from sitesnap.errors import SitesnapError
from sitesnap.runtime.monitor import run_alerts, site_status
from sitesnap.runtime.scheduler import SiteScheduler


def hooks(receiver: Any) -> list[tuple[str, str]]:
    return [(r.json()["kind"], r.json()["rule"]) for r in receiver.requests if r.path == "/hook"]


def record_backup(url: str, status: str, at: datetime, error: str = "") -> None:
    """A backup run that ended ``status`` at ``at``, as a process whose clock said ``at`` recorded it."""
    catalog = open_catalog(url, clock=lambda: at)
    try:
        run = catalog.start_run("backup", site="blog", repository="local", triggered_by="scheduler")
        catalog.finish_run(run.id, status, error=SitesnapError(error) if error else None)
    finally:
        catalog.close()


def test_two_failed_cli_backups_send_one_webhook(tmp_path: Path, run_cli: Any, receiver: Any) -> None:
    cfg = write_site(tmp_path / "site", hook=receiver.url("/hook"))
    (cfg.base_dir / "instance" / "blog.db").unlink()  # the SQLite source is gone: every backup fails
    conf = str(cfg.path)

    first = run_cli("-c", conf, "backup", password=None)
    assert first.code != 0 and "Traceback" not in first.stderr
    assert hooks(receiver) == []  # one failure is not yet an alert
    second = run_cli("-c", conf, "backup", password=None)
    assert second.code == first.code
    assert hooks(receiver) == [("firing", "consecutive_failures")]

    third = run_cli("-c", conf, "backup", password=None)  # still failing: announced once only
    assert third.code == first.code
    assert hooks(receiver) == [("firing", "consecutive_failures")]

    status = run_cli("-c", conf, "status", "--json", password=None)
    (site,) = json.loads(status.stdout)["sites"]
    assert site["healthy"] is False
    assert [a["rule"] for a in site["firing_alerts"]] == ["consecutive_failures"]


def test_processes_evaluating_at_once_send_one_notification(tmp_path: Path, receiver: Any) -> None:
    cfg = write_site(tmp_path / "site", hook=receiver.url("/hook"))
    url = cfg.runtime.catalog_url
    now = datetime.now(UTC)
    record_backup(url, "failed", now - timedelta(minutes=2), "disk full")
    record_backup(url, "failed", now - timedelta(minutes=1), "disk full")

    start = threading.Barrier(4)
    sent: list[int] = []

    def evaluate() -> None:
        catalog = open_catalog(url)  # each its own connection pool, as separate processes have
        try:
            start.wait()
            sent.append(len(run_alerts(catalog, [cfg])))
        finally:
            catalog.close()

    threads = [threading.Thread(target=evaluate) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(sent) == [0, 0, 0, 1]
    assert hooks(receiver) == [("firing", "consecutive_failures")]


def test_status_is_not_healthy_while_a_rule_fires_unevaluated(tmp_path: Path) -> None:
    cfg = write_site(tmp_path / "site")
    url = cfg.runtime.catalog_url
    now = datetime.now(UTC)
    record_backup(url, "completed", now - timedelta(minutes=30))
    record_backup(url, "failed", now - timedelta(minutes=20), "disk full")
    record_backup(url, "failed", now - timedelta(minutes=10), "disk full")
    catalog = open_catalog(url)
    try:
        assert catalog.list_alert_states(site="blog") == []  # nothing evaluated these runs
        state = site_status(catalog, cfg)
    finally:
        catalog.close()
    assert state["last_backup"]["within_rpo"] is True
    assert state["healthy"] is False
    assert [a["rule"] for a in state["firing_alerts"]] == ["consecutive_failures"]


def test_the_scheduler_timer_fires_the_rpo_alert(tmp_path: Path, run_cli: Any, receiver: Any) -> None:
    cfg = write_site(tmp_path / "site", hook=receiver.url("/hook"))
    url = cfg.runtime.catalog_url
    record_backup(url, "completed", datetime.now(UTC) - timedelta(days=2))  # rpo is 1 day
    catalog = open_catalog(url)
    sched = SiteScheduler(cfg, catalog, alert_interval=0.2)
    try:
        sched.start()
        deadline = time.monotonic() + 20
        while ("firing", "rpo_exceeded") not in hooks(receiver) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.6)  # a few more rounds of the timer: still one message
    finally:
        sched.shutdown()
        catalog.close()
    assert hooks(receiver) == [("firing", "rpo_exceeded")]

    status = run_cli("-c", str(cfg.path), "status", "--json", password=None)
    (site,) = json.loads(status.stdout)["sites"]
    assert site["healthy"] is False and [a["rule"] for a in site["firing_alerts"]] == ["rpo_exceeded"]


def test_a_failed_cli_check_is_a_recorded_run_and_alerts(tmp_path: Path, run_cli: Any, receiver: Any) -> None:
    cfg = write_site(tmp_path / "site", hook=receiver.url("/hook"))
    conf = str(cfg.path)
    assert run_cli("-c", conf, "backup", password=None).code == 0
    assert hooks(receiver) == []
    flip_byte(packs(cfg.base_dir)[0])

    check = run_cli("-c", conf, "check", "--read-data", password=None)
    assert check.code == 14, check.stderr
    assert "problem(s) found" in check.stderr and "Traceback" not in check.stderr
    assert hooks(receiver) == [("firing", "integrity_failure")]
    catalog = open_catalog(cfg.runtime.catalog_url)
    try:
        (run,) = catalog.list_runs(site="blog", kind="check").items
    finally:
        catalog.close()
    assert run.status == "failed" and run.error_code == "integrity" and run.triggered_by == "cli"


def test_serve_without_a_scheduler_fires_the_rpo_alert(tmp_path: Path, receiver: Any) -> None:
    cfg = write_site(tmp_path / "site", hook=receiver.url("/hook"))
    record_backup(cfg.runtime.catalog_url, "completed", datetime.now(UTC) - timedelta(days=2))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sitesnap = str(Path(sys.executable).with_name("sitesnap"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SITESNAP_")}
    with (tmp_path / "serve.log").open("w") as log:
        proc = subprocess.Popen([sitesnap, "-c", str(cfg.path), "serve", "--no-scheduler", "--port", str(port)],
                                env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.monotonic() + 30
            while not hooks(receiver) and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.2)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    assert hooks(receiver) == [("firing", "rpo_exceeded")], (tmp_path / "serve.log").read_text()
