"""A site's health at a glance: what ``sitesnap status`` prints and the console shows.

Healthy means: a successful backup within the RPO, the newest drill (if
any) passed, and no alert rule fires now (``capture_lag`` included: a
continuous source whose capture is behind makes the site unhealthy).
Capture progress comes from the catalog, so status never waits on storage
for it.  The firing rules are evaluated
here from the current facts as well as read from the catalog's alert state,
so ``status`` never calls a site healthy while a rule fires, even when no
evaluation has stored that state yet.  Read-only: nothing is sent or stored.
"""

from __future__ import annotations

import statistics
from datetime import UTC, datetime
from typing import Any

from sitesnap.catalog import Catalog
from sitesnap.config import RepositoryConfig, SiteConfig
from sitesnap.runtime.alerts.routing import alert_thresholds
from sitesnap.runtime.alerts.rules import CaptureState, evaluate
from sitesnap.runtime.facts import (
    Measure,
    RepositoryMeasure,
    collect_facts,
    drill_message,
    site_metrics,
    stored_measure,
    utc,
)

__all__ = ["site_status"]


def _firing(catalog: Catalog, cfg: SiteConfig, at: datetime, measure: Measure) -> list[dict[str, Any]]:
    """Alerts firing: the catalog's state, plus any the rules find now that no evaluation stored yet."""
    rows = catalog.list_alert_states(site=cfg.site.name, state="firing")
    firing = [dict(a.details.get("alert", {}), rule=a.rule, since=a.since.isoformat()) for a in rows]
    stored = {(a.details.get("alert", {}).get("rule"), a.details.get("alert", {}).get("subject", "")) for a in rows}
    for alert in evaluate(collect_facts(catalog, cfg, at, measure=measure), alert_thresholds(cfg)):
        if (alert.rule.value, alert.subject) not in stored:
            firing.append({"rule": alert.key.rule + (f"/{alert.subject}" if alert.subject else ""),
                           "subject": alert.subject, "severity": alert.severity.value, "summary": alert.summary,
                           "values": dict(alert.values), "since": at.isoformat()})
    return firing


def _memo(measure: Measure) -> Measure:
    """``measure`` once per repository: the metrics and the rules look at the same listing."""
    seen: dict[str, RepositoryMeasure | None] = {}

    def once(repo_cfg: RepositoryConfig) -> RepositoryMeasure | None:
        if repo_cfg.name not in seen:
            seen[repo_cfg.name] = measure(repo_cfg)
        return seen[repo_cfg.name]

    return once


def site_status(catalog: Catalog, cfg: SiteConfig, now: datetime | None = None, *,
                measure: Measure | None = None) -> dict[str, Any]:
    """One site's health as JSON-ready data: backups vs RPO, drills, success rates, usage, alerts.

    Reads the catalog only, never cloud storage (see :func:`stored_measure`):
    a repository's size is the one its newest job recorded, with its age.
    """
    at = utc(now or datetime.now(UTC))
    measure = _memo(measure or stored_measure(catalog, cfg.site.name))
    m = site_metrics(catalog, cfg, at, measure)
    rpo = cfg.site.rpo.total_seconds()
    age = None if m.last_success is None else (at - m.last_success).total_seconds()
    drill = catalog.list_drill_results(site=cfg.site.name, per_page=1).items
    firing = _firing(catalog, cfg, at, measure)
    captures = {c.source: c for c in m.captures}
    return {
        "site": cfg.site.name,
        "healthy": age is not None and age <= rpo and not firing and (not drill or drill[0].ok),
        "last_backup": {"at": None if m.last_success is None else m.last_success.isoformat(),
                        "age_seconds": age, "rpo_seconds": rpo, "within_rpo": age is not None and age <= rpo,
                        "duration_seconds": m.last_backup_duration,
                        "median_seconds": statistics.median(m.backup_durations) if m.backup_durations else None},
        "last_drill": None if not drill else {
            "at": utc(drill[0].created_at).isoformat(), "ok": drill[0].ok, "snapshot_id": drill[0].snapshot_id,
            "rto_seconds": drill[0].rto_seconds, "message": drill_message(drill[0].checks)},
        "success_rate": m.success_rates(),
        "repositories": [{"name": r.name, "used_bytes": r.used_bytes, "quota_bytes": r.quota_bytes,
                          "used_percent": 100.0 * r.used_bytes / r.quota_bytes if r.quota_bytes else None,
                          "snapshots": r.snapshot_count,
                          "measured_at": (r.measured_at or at).isoformat(),
                          "size_age_seconds": (at - utc(r.measured_at)).total_seconds() if r.measured_at else 0.0}
                         for r in m.repositories],
        "sources": [_source(src, captures.get(src.name), at, cfg.alerts.capture_rpo.total_seconds())
                    for src in cfg.sources],
        "firing_alerts": firing,
    }


def _source(src: Any, cap: CaptureState | None, at: datetime, rpo: float) -> dict[str, Any]:
    """One source; a continuous one carries its capture lag, newest shipped and oldest restorable time."""
    if cap is None:
        return {"name": src.name, "type": src.type, "continuous": False, "capture": None}
    lag = cap.lag(at)
    seconds = None if lag is None else lag.total_seconds()
    return {"name": src.name, "type": src.type, "continuous": True, "capture": {
        "lag_seconds": seconds, "rpo_seconds": rpo, "within_rpo": seconds is not None and seconds <= rpo,
        "last_shipped_at": _iso(cap.last_shipped), "last_report_at": _iso(cap.reported),
        "oldest_restorable_at": _iso(cap.oldest_restorable), "segments_total": cap.segments_total}}


def _iso(dt: datetime | None) -> str | None:
    return None if dt is None else utc(dt).isoformat()
