"""Facts from the catalog: what the alert rules judge and what the metrics show.

The alert rules (:mod:`.alerts.rules`) and the metrics renderer
(:mod:`.metrics`) are pure; this module feeds them.  It reads the catalog
(runs, backup records, drill results) and the repositories' storage
listings (capture progress included, from the catalog only), and writes nothing::

    collect_facts(catalog, cfg, now)          -> SiteFacts        (for the rules)
    collect_metrics(catalog, cfgs, now)       -> MetricsSnapshot  (/metrics, the console, status)
    site_metrics(catalog, cfg, now, measure)  -> SiteMetrics      (one site)

Repository sizes never wait on cloud storage: jobs that touched a
repository record its size in their run's result (``repository_sizes``, see
:mod:`sitesnap.runtime.jobs.sizes`) and :func:`stored_measure` reads the
newest such figure from the catalog, with the time it was measured, so
``status``, the console and ``/metrics`` show it as of then.  Local
repositories are listed live (a directory walk cannot hang on a frozen
endpoint).  A repository with no figure yet is left out of the numbers.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sitesnap.catalog import Catalog, RunInfo
from sitesnap.config import RepositoryConfig, SiteConfig
from sitesnap.errors import SitesnapError
from sitesnap.runtime.alerts.rules import BackupRun, IntegrityResult, RepositoryUsage, RunStatus, SiteFacts
from sitesnap.runtime.capture import capture_states
from sitesnap.runtime.metrics import WINDOWS, MetricsSnapshot, RepositoryStats, SiteMetrics, SourceSize, success_rate

__all__ = [
    "Measure",
    "RepositoryMeasure",
    "collect_facts",
    "collect_metrics",
    "drill_message",
    "measure_repository",
    "site_metrics",
    "stored_measure",
    "utc",
]

_log = logging.getLogger(__name__)
RECENT_RUNS = 30
PAGE = 500


# --- repository sizes ----------------------------------------------------------------


@dataclass(frozen=True)
class RepositoryMeasure:
    """What a storage listing tells about one repository."""

    name: str
    used_bytes: int
    snapshot_count: int
    quota_bytes: int | None = None
    free_bytes: int | None = None
    measured_at: datetime | None = None  # None: listed just now

    def to_json(self) -> dict[str, Any]:
        """What a run's result keeps of it (``repository_sizes``)."""
        return {"used_bytes": self.used_bytes, "snapshots": self.snapshot_count,
                "measured_at": (self.measured_at or datetime.now(UTC)).isoformat()}


Measure = Callable[[RepositoryConfig], RepositoryMeasure | None]
SIZES_KEY = "repository_sizes"
SIZE_LOOKBACK = 200  # recent completed runs searched for a repository's newest figure


def measure_repository(repo_cfg: RepositoryConfig) -> RepositoryMeasure | None:
    """Bytes stored and snapshots, by listing the storage; free disk for local ones.

    One LIST of the whole repository (cheap on disk, a few requests per
    thousand objects on S3).  Returns None, and logs why, when the storage
    cannot be listed.
    """
    from sitesnap.engine.opening import opened_storage, target_of

    try:
        with opened_storage(target_of(repo_cfg)) as storage:
            used = snapshots = 0
            for obj in storage.list(""):
                used += obj.size
                snapshots += obj.name.startswith("snapshots/")
    except SitesnapError as exc:
        _log.warning("cannot measure repository %s: %s", repo_cfg.name, exc.message)
        return None
    free = None
    if repo_cfg.local_path is not None:
        try:
            free = shutil.disk_usage(repo_cfg.local_path).free
        except OSError:
            free = None
    return RepositoryMeasure(repo_cfg.name, used, snapshots, repo_cfg.quota, free)


def stored_measure(catalog: Catalog, site: str, live: Measure = measure_repository) -> Measure:
    """Sizes as the newest completed run on each repository recorded them; ``live`` for local ones.

    Reads only the catalog for network repositories, so a frozen endpoint
    cannot hold ``status``, the console or a scrape; the figure carries its
    ``measured_at`` so readers can say how old it is.
    """

    def measure(repo_cfg: RepositoryConfig) -> RepositoryMeasure | None:
        if repo_cfg.local_path is not None:
            return live(repo_cfg)
        for run in catalog.list_runs(site=site, status="completed", per_page=SIZE_LOOKBACK).items:
            figure = (run.result or {}).get(SIZES_KEY, {}).get(repo_cfg.name)
            if isinstance(figure, dict):
                return RepositoryMeasure(repo_cfg.name, int(figure["used_bytes"]), int(figure["snapshots"]),
                                         repo_cfg.quota, None, datetime.fromisoformat(figure["measured_at"]))
        return None

    return measure


def _measures(cfg: SiteConfig, measure: Measure) -> list[RepositoryMeasure]:
    return [m for m in (measure(r) for r in cfg.repositories) if m is not None]


# --- reading the catalog -------------------------------------------------------------------


def utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _runs(catalog: Catalog, site: str, kind: str, *, since: datetime | None = None,
          limit: int | None = None) -> Iterator[RunInfo]:
    """Runs newest first, all pages (or the first ``limit``)."""
    page, seen = 1, 0
    while True:
        batch = catalog.list_runs(site=site, kind=kind, since=since, page=page, per_page=PAGE)
        for run in batch.items:
            if limit is not None and seen >= limit:
                return
            seen += 1
            yield run
        if page >= batch.pages:
            return
        page += 1


def _duration(run: RunInfo) -> float | None:
    if run.started_at is None or run.finished_at is None:
        return None
    return (utc(run.finished_at) - utc(run.started_at)).total_seconds()


_STATUS = {"completed": RunStatus.SUCCESS, "failed": RunStatus.FAILED, "running": RunStatus.RUNNING,
           "cancelled": RunStatus.CANCELLED}


def _backup_run(run: RunInfo) -> BackupRun | None:
    status = _STATUS.get(run.status)
    if status is None:  # queued: not started, nothing to judge yet
        return None
    return BackupRun(status, utc(run.started_at or run.created_at),
                     None if run.finished_at is None else utc(run.finished_at))


def _last_success(catalog: Catalog, site: str, runs: Sequence[RunInfo]) -> datetime | None:
    """Newest successful backup: from runs, else from the records (imported or rebuilt snapshots)."""
    times = [utc(r.finished_at) for r in runs if r.status == "completed" and r.finished_at]
    for rec in catalog.list_backup_records(site=site, status="completed", per_page=20).items:
        if rec.backup_type != "pre-restore":
            times.append(utc(rec.completed_at or rec.created_at))
            break
    return max(times, default=None)


def _monitored_since(catalog: Catalog, site: str) -> datetime | None:
    """The site's first recorded run of any kind: when its RPO clock started."""
    first = catalog.list_runs(site=site, per_page=1)
    if first.total == 0:
        return None
    oldest = catalog.list_runs(site=site, page=first.total, per_page=1).items
    return utc(oldest[0].created_at) if oldest else None


def _integrity(catalog: Catalog, site: str) -> list[IntegrityResult]:
    """The newest finished check per repository and the newest drill."""
    results: list[IntegrityResult] = []
    seen: set[str] = set()
    for run in _runs(catalog, site, "check", limit=RECENT_RUNS):
        if run.status not in ("completed", "failed") or run.repository in seen:
            continue
        seen.add(run.repository)
        results.append(IntegrityResult("check", run.status == "completed", utc(run.finished_at or run.created_at),
                                       run.error_message or "", run.repository))
    drills = catalog.list_drill_results(site=site, per_page=1).items
    if drills and not _privilege_only(drills[0].checks):
        d = drills[0]
        results.append(IntegrityResult("drill", d.ok, utc(d.created_at), drill_message(d.checks)))
    return results


def _privilege_only(checks: Iterable[dict[str, Any]]) -> bool:
    """A failed drill whose every failure was a missing database privilege says nothing about integrity."""
    failed = [c for c in checks if not c.get("ok", True)]
    return bool(failed) and all(c.get("error") == "privilege" for c in failed)


def drill_message(checks: Iterable[dict[str, Any]]) -> str:
    bad = [c for c in checks if not c.get("ok", True)]
    return "; ".join(f"{c.get('name')}: {c.get('detail', '')}" for c in bad[:3])


def collect_facts(catalog: Catalog, site_cfg: SiteConfig, now: datetime, *,
                  measure: Measure | None = None) -> SiteFacts:
    """What the alert rules need to know about one site at ``now`` (timezone-aware).

    ``measure`` defaults to :func:`stored_measure` (the catalog's figures).
    """
    site = site_cfg.site.name
    measure = measure or stored_measure(catalog, site)
    runs = list(_runs(catalog, site, "backup", limit=RECENT_RUNS))
    usage = tuple(RepositoryUsage(m.name, m.used_bytes, m.quota_bytes, m.free_bytes)
                  for m in _measures(site_cfg, measure))
    return SiteFacts(
        site=site, now=utc(now), runs=tuple(b for b in map(_backup_run, runs) if b is not None),
        last_success=_last_success(catalog, site, runs), repositories=usage,
        integrity=tuple(_integrity(catalog, site)), rpo=site_cfg.site.rpo,
        console_url=site_cfg.site.console_url, monitored_since=_monitored_since(catalog, site),
        captures=capture_states(catalog, site_cfg),
    )


# --- metrics ---------------------------------------------------------------------------------


def site_metrics(catalog: Catalog, cfg: SiteConfig, now: datetime, measure: Measure | None = None) -> SiteMetrics:
    site = cfg.site.name
    measure = measure or stored_measure(catalog, site)
    backups = list(_runs(catalog, site, "backup", since=now - WINDOWS["30d"]))
    outcomes = [(utc(r.finished_at), r.status == "completed") for r in backups
                if r.status in ("completed", "failed") and r.finished_at is not None]
    rates = {w: success_rate(outcomes, now, span) for w, span in WINDOWS.items()}
    recent = list(_runs(catalog, site, "backup", limit=RECENT_RUNS))
    durations = [d for d in (_duration(r) for r in recent if r.status == "completed") if d is not None]
    restores = [(utc(r.finished_at), d) for r in _runs(catalog, site, "restore", limit=RECENT_RUNS)
                if r.status == "completed" and r.finished_at and (d := _duration(r)) is not None]
    drills = catalog.list_drill_results(site=site, per_page=RECENT_RUNS).items
    restores += [(utc(d.created_at), d.rto_seconds) for d in drills if d.ok and d.rto_seconds is not None]
    restores.sort(key=lambda item: item[0], reverse=True)
    good = catalog.list_drill_results(site=site, ok=True, per_page=1).items
    newest = _newest_record(catalog, site)
    return SiteMetrics(
        site=site, success_rate_24h=rates["24h"], success_rate_7d=rates["7d"], success_rate_30d=rates["30d"],
        last_success=_last_success(catalog, site, recent),
        last_drill_success=utc(good[0].created_at) if good else None,
        last_backup_duration=durations[0] if durations else None,
        last_restore_duration=restores[0][1] if restores else None,
        backup_durations=tuple(durations), restore_durations=tuple(d for _, d in restores[:RECENT_RUNS]),
        sources=_source_sizes(newest), repositories=_repository_stats(cfg, newest, measure),
        captures=capture_states(catalog, cfg),
    )


def _newest_record(catalog: Catalog, site: str) -> Any:
    for rec in catalog.list_backup_records(site=site, status="completed", per_page=20).items:
        if rec.backup_type != "pre-restore":
            return rec
    return None


def _source_sizes(record: Any) -> tuple[SourceSize, ...]:
    if record is None:
        return ()
    sources = record.metadata.get("sources") or []
    return tuple(SourceSize(str(s["name"]), int(s.get("size") or 0)) for s in sources
                 if isinstance(s, dict) and "name" in s)


def _repository_stats(cfg: SiteConfig, record: Any, measure: Measure) -> tuple[RepositoryStats, ...]:
    primary = cfg.repositories[0].name if cfg.repositories else ""
    out = []
    for m in _measures(cfg, measure):
        ratios = (record.dedup_ratio, record.compression_ratio) if record is not None and m.name == primary \
            else (None, None)
        out.append(RepositoryStats(m.name, m.used_bytes, m.quota_bytes, m.snapshot_count, dedup_ratio=ratios[0],
                                   compression_ratio=ratios[1], measured_at=m.measured_at))
    return tuple(out)


def collect_metrics(catalog: Catalog, site_cfgs: Iterable[SiteConfig], now: datetime | None = None, *,
                    measure: Measure | None = None) -> MetricsSnapshot:
    """Every site's metrics at ``now`` (default: the current time), ready for
    :func:`~sitesnap.runtime.metrics.render_prometheus` and :func:`~sitesnap.runtime.metrics.metrics_json`.

    Reads the catalog only (local repositories are listed live); ``measure``
    replaces :func:`stored_measure` for every site.
    """
    at = utc(now or datetime.now(UTC))
    return MetricsSnapshot(at, tuple(site_metrics(catalog, cfg, at, measure) for cfg in site_cfgs))
