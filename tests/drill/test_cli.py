"""``sitesnap drill``, ``status``, ``alert test`` and ``alerts check`` run as a user runs them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.drill.sites import flip_byte, packs, write_site

from sitesnap.catalog import open_catalog


def test_drill_then_status_in_the_terminal_and_as_json(tmp_path: Path, run_cli: Any, receiver: Any) -> None:
    cfg = write_site(tmp_path / "site", hook=receiver.url("/hook"), quota="1GiB")
    conf = str(cfg.path)
    backup = run_cli("-c", conf, "scheduler", "--once", "incremental", password=None)
    assert backup.code == 0, backup.stderr

    drill = run_cli("-c", conf, "drill", password=None)
    assert drill.code == 0, drill.stderr
    assert "drill passed" in drill.stdout and "RTO" in drill.stdout
    assert "uploads" in drill.stdout and "3 files" in drill.stdout

    status = run_cli("-c", conf, "status", "--json", password=None)
    assert status.code == 0, status.stderr
    (site,) = json.loads(status.stdout)["sites"]
    catalog = open_catalog(cfg.runtime.catalog_url)
    try:
        (result,) = catalog.list_drill_results(site="blog").items
    finally:
        catalog.close()
    assert site["healthy"] is True and site["firing_alerts"] == []
    assert site["last_drill"]["ok"] is True and site["last_drill"]["snapshot_id"] == result.snapshot_id
    assert site["last_drill"]["rto_seconds"] == result.rto_seconds
    assert site["last_backup"]["within_rpo"] is True and site["last_backup"]["rpo_seconds"] == 86400
    assert site["success_rate"] == {"24h": 1.0, "7d": 1.0, "30d": 1.0}
    (repo,) = site["repositories"]
    assert repo["name"] == "local" and repo["snapshots"] == 1 and repo["quota_bytes"] == 1 << 30

    text = run_cli("-c", conf, "status", password=None)
    assert text.code == 0 and "site blog: healthy" in text.stdout and "last drill" in text.stdout
    drill_line = next(line for line in text.stdout.splitlines() if "last drill" in line)
    assert re.search(r"last drill +[0-9.]+[smhd] ago passed", drill_line), drill_line


def test_failed_drill_exits_14_and_status_shows_the_alert(tmp_path: Path, run_cli: Any, receiver: Any) -> None:
    cfg = write_site(tmp_path / "site", hook=receiver.url("/hook"))
    conf = str(cfg.path)
    assert run_cli("-c", conf, "scheduler", "--once", "incremental", password=None).code == 0
    flip_byte(packs(cfg.base_dir)[0])

    drill = run_cli("-c", conf, "drill", "--json", password=None)
    assert drill.code == 14, drill.stderr
    summary = [json.loads(line) for line in drill.stdout.splitlines() if '"summary"' in line][-1]
    assert summary["status"] == "failed" and summary["result"]["ok"] is False
    assert [r.json()["rule"] for r in receiver.requests] == ["integrity_failure"]

    status = run_cli("-c", conf, "status", password=None)
    assert "NEEDS ATTENTION" in status.stdout and "ALERT" in status.stdout and "FAILED" in status.stdout


def test_alert_test_and_check(tmp_path: Path, run_cli: Any, receiver: Any, smtp_plain: Any) -> None:
    cfg = write_site(tmp_path / "site", hook=receiver.url("/hook"), smtp_port=smtp_plain.port)
    conf = str(cfg.path)

    sent = run_cli("-c", conf, "alert", "test", password=None)
    assert sent.code == 0, sent.stderr
    assert "hook: sent" in sent.stdout and "mail: sent" in sent.stdout
    assert receiver.requests[0].json()["kind"] == "test" and len(smtp_plain.sink.mails) == 1

    one = run_cli("-c", conf, "alert", "test", "--channel", "hook", "--json", password=None)
    assert json.loads(one.stdout) == {"results": [{"channel": "hook", "ok": True, "error": ""}]}
    assert len(receiver.requests) == 2 and len(smtp_plain.sink.mails) == 1

    unknown = run_cli("-c", conf, "alert", "test", "--channel", "pager", password=None)
    assert unknown.code == 2 and "no alert channel named 'pager' (known: hook, mail)" in unknown.stderr
    assert "Traceback" not in unknown.stderr

    # no backup on record at all: the RPO alert fires at once, and only once
    check = run_cli("-c", conf, "alerts", "check", "--json", password=None)
    assert check.code == 0, check.stderr
    notes = json.loads(check.stdout)["notifications"]
    assert [(n["rule"], n["kind"]) for n in notes] == [("rpo_exceeded", "firing")]
    assert {d["channel"] for d in notes[0]["deliveries"]} == {"hook", "mail"}
    again = run_cli("-c", conf, "alert", "check", password=None)
    assert again.code == 0 and "no change" in again.stdout


def test_alert_test_failure_exits_22(tmp_path: Path, run_cli: Any, receiver: Any) -> None:
    cfg = write_site(tmp_path / "site", hook=receiver.url("/status/500"))
    result = run_cli("-c", str(cfg.path), "alert", "test", password=None)
    assert result.code == 22 and "HTTP 500" in result.stderr and "Traceback" not in result.stderr
