"""Metrics and alerts fed from real catalog rows and a real repository, delivered to real loopback servers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.conftest import dir_size
from tests.drill.sites import PASSWORD, write_site

from sitesnap.catalog import Catalog, open_catalog
from sitesnap.config import SiteConfig, load_config
from sitesnap.engine.opening import open_repository
from sitesnap.engine.site import backup_site
from sitesnap.runtime.alerts import AlertKey
from sitesnap.runtime.metrics import render_prometheus
from sitesnap.runtime.monitor import CatalogStateStore, collect_facts, collect_metrics, run_alerts

T = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


class Clock:
    """The catalog's clock, moved by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(T)


def open_site(root: Path, clock: Clock, **kwargs: Any) -> tuple[SiteConfig, Catalog]:
    cfg = write_site(root, **kwargs)
    return cfg, open_catalog(cfg.runtime.catalog_url, clock=clock)


def snapshot(cfg: SiteConfig) -> None:
    """One real snapshot in the site's repository (its size is what the storage rule sees)."""
    repo = open_repository(str(cfg.primary.local_path), PASSWORD)
    try:
        backup_site(repo, cfg)
    finally:
        repo.close()


def add_run(catalog: Catalog, clock: Clock, kind: str, start: datetime, seconds: float, status: str,
            repository: str = "local") -> str:
    clock.now = start
    run = catalog.start_run(kind, site="blog", repository=repository, triggered_by="scheduler")
    if status == "running":
        return run.id
    clock.now = start + timedelta(seconds=seconds)
    catalog.finish_run(run.id, status, error="simulated failure" if status == "failed" else None)
    return run.id


def samples(text: bytes) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    out = {}
    for family in text_string_to_metric_families(text.decode()):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return found[(name, frozenset({"site": "blog", **labels}.items()))]


def test_prometheus_values_equal_the_catalog(tmp_path: Path, clock: Clock) -> None:
    cfg, catalog = open_site(tmp_path / "site", clock, quota="10MiB")
    snapshot(cfg)
    day = timedelta(days=1)
    add_run(catalog, clock, "backup", T - 40 * day, 60, "completed")  # outside every window
    add_run(catalog, clock, "backup", T - 20 * day, 30, "failed")
    add_run(catalog, clock, "backup", T - 5 * day, 100, "completed")
    add_run(catalog, clock, "backup", T - 5 * day + timedelta(hours=6), 120, "completed")
    add_run(catalog, clock, "backup", T - timedelta(hours=3), 10, "failed")
    add_run(catalog, clock, "backup", T - timedelta(hours=2), 90, "completed")
    add_run(catalog, clock, "restore", T - timedelta(hours=5), 30, "completed")
    catalog.add_drill_result("blog", "a" * 64, True, rto_seconds=12.5, created_at=T - timedelta(hours=4))
    catalog.add_drill_result("blog", "b" * 64, False, rto_seconds=4.0, created_at=T - timedelta(hours=1))
    catalog.upsert_backup_record("c" * 64, site="blog", backup_type="incremental", status="completed",
                                 created_at=T - timedelta(hours=2), completed_at=T - timedelta(hours=2),
                                 dedup_ratio=2.5, compression_ratio=1.8,
                                 metadata={"sources": [{"name": "uploads", "size": 300_006},
                                                       {"name": "db", "size": 12_288}]})
    clock.now = T
    found = samples(render_prometheus(collect_metrics(catalog, [cfg], T)))
    catalog.close()

    assert value(found, "sitesnap_backup_success_ratio", window="24h") == 0.5
    assert value(found, "sitesnap_backup_success_ratio", window="7d") == 0.75
    assert value(found, "sitesnap_backup_success_ratio", window="30d") == 0.6
    last_ok = T - timedelta(hours=2) + timedelta(seconds=90)
    assert value(found, "sitesnap_last_success_timestamp_seconds") == last_ok.timestamp()
    assert value(found, "sitesnap_seconds_since_last_success") == (T - last_ok).total_seconds()
    assert value(found, "sitesnap_last_drill_success_timestamp_seconds") == (T - timedelta(hours=4)).timestamp()
    assert value(found, "sitesnap_seconds_since_last_drill_success") == 4 * 3600
    assert value(found, "sitesnap_last_backup_duration_seconds") == 90
    assert value(found, "sitesnap_last_restore_duration_seconds") == 12.5  # the newest good drill
    assert value(found, "sitesnap_backup_duration_seconds_count") == 4
    assert value(found, "sitesnap_backup_duration_seconds_sum") == 60 + 100 + 120 + 90
    assert value(found, "sitesnap_restore_duration_seconds_count") == 2
    assert value(found, "sitesnap_source_size_bytes", source="uploads") == 300_006
    assert value(found, "sitesnap_source_size_bytes", source="db") == 12_288
    repo_labels = {"repository": "local"}
    assert value(found, "sitesnap_repository_used_bytes", **repo_labels) == dir_size(cfg.primary.local_path)
    assert value(found, "sitesnap_repository_quota_bytes", **repo_labels) == 10 * 1024 * 1024
    assert value(found, "sitesnap_repository_snapshots", **repo_labels) == 1
    assert value(found, "sitesnap_repository_dedup_ratio", **repo_labels) == 2.5
    assert value(found, "sitesnap_repository_compression_ratio", **repo_labels) == 1.8


def test_every_rule_fires_once_and_resolves_once_from_catalog_rows(
        tmp_path: Path, clock: Clock, receiver: Any, smtp_plain: Any) -> None:
    root = tmp_path / "site"
    cfg, catalog = open_site(root, clock, quota="1KiB", disabled=(), hook=receiver.url("/hook"),
                             smtp_port=smtp_plain.port)
    snapshot(cfg)
    hour = timedelta(hours=1)

    def evaluate(at: datetime, config: SiteConfig | None = None) -> list[tuple[str, str]]:
        clock.now = at
        notes = run_alerts(catalog, [config or cfg], at)
        assert all(d.ok for n in notes for d in n.deliveries)
        return sorted((n.rule, n.kind.value) for n in notes)

    # two failed backups, a failed check, a repository over its 1 KiB quota
    add_run(catalog, clock, "backup", T - 3 * hour, 20, "failed")
    add_run(catalog, clock, "backup", T - 2 * hour, 20, "failed")
    add_run(catalog, clock, "check", T - hour, 5, "failed")
    assert evaluate(T) == [("consecutive_failures", "firing"), ("integrity_failure", "firing"),
                           ("storage_quota", "firing")]
    assert evaluate(T + timedelta(minutes=5)) == []  # de-duplicated

    # backups succeed again (the newest one slowly), the check passes, the quota is raised
    for i in range(3):
        add_run(catalog, clock, "backup", T + (i + 1) * hour, 60, "completed")
    add_run(catalog, clock, "backup", T + 4 * hour, 600, "completed")
    add_run(catalog, clock, "check", T + 4 * hour, 5, "completed")
    toml = root / "sitesnap.toml"
    toml.write_text(toml.read_text().replace('quota = "1KiB"', 'quota = "1GiB"'))
    roomy = load_config(toml)
    assert evaluate(T + 5 * hour, roomy) == [("consecutive_failures", "resolved"), ("integrity_failure", "resolved"),
                                             ("slow_backup", "firing"), ("storage_quota", "resolved")]
    add_run(catalog, clock, "backup", T + 6 * hour, 60, "completed")
    assert evaluate(T + 7 * hour, roomy) == [("slow_backup", "resolved")]

    # nothing for more than the RPO (1 day), then a backup
    late = T + 6 * hour + timedelta(days=1, minutes=2)
    assert evaluate(late, roomy) == [("rpo_exceeded", "firing")]
    assert evaluate(late + hour, roomy) == []
    add_run(catalog, clock, "backup", late + 2 * hour, 60, "completed")
    assert evaluate(late + 3 * hour, roomy) == [("rpo_exceeded", "resolved")]

    hooks = [r.json() for r in receiver.requests if r.path == "/hook"]
    for rule in ("consecutive_failures", "storage_quota", "slow_backup", "integrity_failure", "rpo_exceeded"):
        assert [h["kind"] for h in hooks if h["rule"] == rule] == ["firing", "resolved"], rule
    firing = {h["rule"]: h for h in hooks if h["kind"] == "firing"}
    assert all(h["site"] == "blog" and h["console_url"] == cfg.site.console_url for h in hooks)
    assert firing["consecutive_failures"]["values"] == {"failures": 2, "threshold": 2}
    assert firing["storage_quota"]["values"]["capacity_bytes"] == 1024
    assert firing["storage_quota"]["values"]["used_bytes"] == dir_size(cfg.primary.local_path)
    assert firing["slow_backup"]["values"]["median_seconds"] == 60
    assert firing["integrity_failure"]["subject"] == "check:local"
    assert firing["integrity_failure"]["values"]["message"] == "simulated failure"
    assert firing["rpo_exceeded"]["values"]["rpo_seconds"] == 86400

    mails = smtp_plain.sink.mails
    assert len(mails) == len(hooks) == 10
    subjects = [m.message["Subject"] for m in mails]
    assert sum("consecutive_failures" in s for s in subjects) == 2
    body = mails[0].message.get_body(("plain",)).get_content()
    assert "blog" in body and cfg.site.console_url in body
    assert catalog.list_alert_states(site="blog", state="firing") == []
    assert len(catalog.list_alert_states(site="blog", state="resolved")) == 5
    catalog.close()


def test_catalog_state_store_keeps_subjects_apart_and_survives_reopening(tmp_path: Path, clock: Clock) -> None:
    cfg, catalog = open_site(tmp_path / "site", clock, quota="1KiB", disabled=("rpo_exceeded",))
    snapshot(cfg)
    add_run(catalog, clock, "check", T - timedelta(hours=1), 5, "failed", repository="local")
    add_run(catalog, clock, "check", T - timedelta(minutes=30), 5, "failed", repository="offsite")
    facts = collect_facts(catalog, cfg, T)
    assert {(r.kind, r.repository) for r in facts.integrity} == {("check", "local"), ("check", "offsite")}
    assert len(run_alerts(catalog, [cfg], T)) == 3  # no channel configured: nothing to retry
    catalog.close()
    again = open_catalog(cfg.runtime.catalog_url, clock=clock)
    states = CatalogStateStore(again).get_states("blog")
    assert {k.subject for k in states} == {"check:local", "check:offsite", "local"}
    assert all(s.last_notified == T and s.firing_since == T for s in states.values())
    assert run_alerts(again, [cfg], T + timedelta(minutes=1)) == []
    assert len(CatalogStateStore.rule_column(AlertKey("blog", "rule", "x" * 300))) == 100
    again.close()


def test_a_new_site_gets_its_rpo_clock_from_its_first_run(tmp_path: Path, clock: Clock) -> None:
    cfg, catalog = open_site(tmp_path / "site", clock)
    assert collect_facts(catalog, cfg, T).monitored_since is None
    add_run(catalog, clock, "backup", T - timedelta(hours=2), 5, "failed")
    add_run(catalog, clock, "backup", T - timedelta(hours=1), 5, "running")
    facts = collect_facts(catalog, cfg, T)
    assert facts.monitored_since == T - timedelta(hours=2)
    assert [r.status.value for r in facts.runs] == ["running", "failed"]
    catalog.close()

