"""The served site's :class:`MetricsSnapshot`, from the catalog's runs, records and drills.

Only what the catalog knows: success rates over 24 h / 7 d / 30 d, the last
success, recent durations, the last good drill and the source sizes of the
newest snapshot.  Storage per repository needs the repositories themselves;
it is left out here rather than exported as zero.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sitesnap.catalog import Catalog
from sitesnap.runtime.metrics import WINDOWS, MetricsSnapshot, SiteMetrics, SourceSize, success_rate

__all__ = ["collect_metrics"]

RECENT = 20


def collect_metrics(catalog: Catalog, site: str, *, now: datetime | None = None) -> MetricsSnapshot:
    now = now or datetime.now(UTC)
    runs = catalog.list_runs(site=site, kind="backup", since=now - timedelta(days=30), per_page=500).items
    done = [r for r in runs if r.status in ("completed", "failed") and r.finished_at is not None]
    outcomes = [(r.finished_at, r.status == "completed") for r in done if r.finished_at is not None]
    rates = {name: success_rate(outcomes, now, window) for name, window in WINDOWS.items()}
    durations = tuple((r.finished_at - r.started_at).total_seconds() for r in done
                      if r.status == "completed" and r.finished_at and r.started_at)[:RECENT]
    restores = [r for r in catalog.list_runs(site=site, kind="restore", per_page=RECENT).items
                if r.status == "completed" and r.finished_at and r.started_at]
    restore_durations = tuple((r.finished_at - r.started_at).total_seconds() for r in restores
                              if r.finished_at and r.started_at)
    last_ok = next((r.finished_at for r in done if r.status == "completed"), None)
    drills = catalog.list_drill_results(site=site, ok=True, per_page=1).items
    newest = catalog.list_backup_records(site=site, status="completed", per_page=1).items
    sources: tuple[SourceSize, ...] = ()
    if newest:
        recs = newest[0].metadata.get("sources") or []
        sources = tuple(SourceSize(str(s.get("name")), int(s.get("size") or 0)) for s in recs
                        if isinstance(s, dict) and s.get("name"))
    metrics = SiteMetrics(site=site, success_rate_24h=rates["24h"], success_rate_7d=rates["7d"],
                          success_rate_30d=rates["30d"], last_success=last_ok,
                          last_drill_success=drills[0].created_at if drills else None,
                          last_backup_duration=durations[0] if durations else None,
                          last_restore_duration=restore_durations[0] if restore_durations else None,
                          backup_durations=durations, restore_durations=restore_durations,
                          sources=sources)
    return MetricsSnapshot(now=now, sites=(metrics,))

