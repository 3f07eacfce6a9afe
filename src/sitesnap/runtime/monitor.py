"""Monitoring from the catalog: alert facts, metrics, health status, alert routing, drills.

The alert rules (:mod:`.alerts`) and the metrics renderer (:mod:`.metrics`)
are pure; this module feeds them.  Everything here reads the catalog (runs,
backup records, drill results) plus the repositories' storage listings, and
writes only alert state and drill results::

    collect_facts(catalog, cfg, now)          -> SiteFacts        (for the rules)
    collect_metrics(catalog, cfgs, now)       -> MetricsSnapshot  (/metrics, the console, status)
    run_alerts(catalog, cfgs, now)            -> [Notification]   (evaluate, de-duplicate, send)
    site_status(catalog, cfg, now)            -> dict             (``sitesnap status``)
    drill_job(ctx)                            -> dict             (the ``drill`` job kind)

Repository sizes come from listing the storage (no password needed); a
repository that cannot be listed is left out of the numbers and logged, so
one unreachable bucket does not blank the dashboard.  Alert state lives in
the catalog (:class:`CatalogStateStore`), so the scheduler, Celery workers
and ``sitesnap alerts check`` share one de-duplication.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import statistics
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sitesnap.catalog import Catalog, RunInfo
from sitesnap.config import RepositoryConfig, SiteConfig
from sitesnap.config import alerts as cfg_alerts
from sitesnap.errors import IntegrityError, SitesnapError, UsageError
from sitesnap.runtime.alerts import (
    AlertKey,
    AlertState,
    AlertThresholds,
    BackupRun,
    DingTalkChannel,
    EmailChannel,
    IntegrityResult,
    Notification,
    RepositoryUsage,
    Route,
    Router,
    RuleId,
    RunStatus,
    Severity,
    SiteFacts,
    SlackChannel,
    WebhookChannel,
    WeComChannel,
    evaluate_and_notify,
    send_test,
)
from sitesnap.runtime.alerts.channels import Channel
from sitesnap.runtime.metrics import WINDOWS, MetricsSnapshot, RepositoryStats, SiteMetrics, SourceSize, success_rate
from sitesnap.secrets import resolve

if TYPE_CHECKING:
    from sitesnap.runtime.jobs import JobContext

__all__ = [
    "CatalogStateStore",
    "RepositoryMeasure",
    "alert_thresholds",
    "build_router",
    "collect_facts",
    "collect_metrics",
    "drill_job",
    "measure_repository",
    "run_alerts",
    "site_status",
    "test_channels",
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


Measure = Callable[[RepositoryConfig], RepositoryMeasure | None]


def measure_repository(repo_cfg: RepositoryConfig) -> RepositoryMeasure | None:
    """Bytes stored and snapshots, by listing the storage; free disk for local ones.

    One LIST of the whole repository (cheap on disk, a few requests per
    thousand objects on S3).  Returns None, and logs why, when the storage
    cannot be listed.
    """
    from sitesnap.engine.opening import repository_target
    from sitesnap.storage.registry import open_storage

    try:
        url, options, _ = repository_target(repo_cfg)
        storage = open_storage(url, options)
        try:
            used = snapshots = 0
            for obj in storage.list(""):
                used += obj.size
                snapshots += obj.name.startswith("snapshots/")
        finally:
            storage.close()
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


def _measures(cfg: SiteConfig, measure: Measure) -> list[RepositoryMeasure]:
    return [m for m in (measure(r) for r in cfg.repositories) if m is not None]


# --- reading the catalog -------------------------------------------------------------------


def _utc(dt: datetime) -> datetime:
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
    return (_utc(run.finished_at) - _utc(run.started_at)).total_seconds()


_STATUS = {"completed": RunStatus.SUCCESS, "failed": RunStatus.FAILED, "running": RunStatus.RUNNING,
           "cancelled": RunStatus.CANCELLED}


def _backup_run(run: RunInfo) -> BackupRun | None:
    status = _STATUS.get(run.status)
    if status is None:  # queued: not started, nothing to judge yet
        return None
    return BackupRun(status, _utc(run.started_at or run.created_at),
                     None if run.finished_at is None else _utc(run.finished_at))


def _last_success(catalog: Catalog, site: str, runs: Sequence[RunInfo]) -> datetime | None:
    """Newest successful backup: from runs, else from the records (imported or rebuilt snapshots)."""
    times = [_utc(r.finished_at) for r in runs if r.status == "completed" and r.finished_at]
    for rec in catalog.list_backup_records(site=site, status="completed", per_page=20).items:
        if rec.backup_type != "pre-restore":
            times.append(_utc(rec.completed_at or rec.created_at))
            break
    return max(times, default=None)


def _monitored_since(catalog: Catalog, site: str) -> datetime | None:
    """The site's first recorded run of any kind: when its RPO clock started."""
    first = catalog.list_runs(site=site, per_page=1)
    if first.total == 0:
        return None
    oldest = catalog.list_runs(site=site, page=first.total, per_page=1).items
    return _utc(oldest[0].created_at) if oldest else None


def _integrity(catalog: Catalog, site: str) -> list[IntegrityResult]:
    """The newest finished check per repository and the newest drill."""
    results: list[IntegrityResult] = []
    seen: set[str] = set()
    for run in _runs(catalog, site, "check", limit=RECENT_RUNS):
        if run.status not in ("completed", "failed") or run.repository in seen:
            continue
        seen.add(run.repository)
        results.append(IntegrityResult("check", run.status == "completed", _utc(run.finished_at or run.created_at),
                                       run.error_message or "", run.repository))
    drills = catalog.list_drill_results(site=site, per_page=1).items
    if drills:
        d = drills[0]
        results.append(IntegrityResult("drill", d.ok, _utc(d.created_at), _drill_message(d.checks)))
    return results


def _drill_message(checks: Iterable[dict[str, Any]]) -> str:
    bad = [c for c in checks if not c.get("ok", True)]
    return "; ".join(f"{c.get('name')}: {c.get('detail', '')}" for c in bad[:3])


def collect_facts(catalog: Catalog, site_cfg: SiteConfig, now: datetime, *,
                  measure: Measure = measure_repository) -> SiteFacts:
    """What the alert rules need to know about one site at ``now`` (timezone-aware)."""
    site = site_cfg.site.name
    runs = list(_runs(catalog, site, "backup", limit=RECENT_RUNS))
    usage = tuple(RepositoryUsage(m.name, m.used_bytes, m.quota_bytes, m.free_bytes)
                  for m in _measures(site_cfg, measure))
    return SiteFacts(
        site=site, now=_utc(now), runs=tuple(b for b in map(_backup_run, runs) if b is not None),
        last_success=_last_success(catalog, site, runs), repositories=usage,
        integrity=tuple(_integrity(catalog, site)), rpo=site_cfg.site.rpo,
        console_url=site_cfg.site.console_url, monitored_since=_monitored_since(catalog, site),
    )


# --- metrics ---------------------------------------------------------------------------------


def _site_metrics(catalog: Catalog, cfg: SiteConfig, now: datetime, measure: Measure) -> SiteMetrics:
    site = cfg.site.name
    backups = list(_runs(catalog, site, "backup", since=now - WINDOWS["30d"]))
    outcomes = [(_utc(r.finished_at), r.status == "completed") for r in backups
                if r.status in ("completed", "failed") and r.finished_at is not None]
    rates = {w: success_rate(outcomes, now, span) for w, span in WINDOWS.items()}
    recent = list(_runs(catalog, site, "backup", limit=RECENT_RUNS))
    durations = [d for d in (_duration(r) for r in recent if r.status == "completed") if d is not None]
    restores = [(_utc(r.finished_at), d) for r in _runs(catalog, site, "restore", limit=RECENT_RUNS)
                if r.status == "completed" and r.finished_at and (d := _duration(r)) is not None]
    drills = catalog.list_drill_results(site=site, per_page=RECENT_RUNS).items
    restores += [(_utc(d.created_at), d.rto_seconds) for d in drills if d.ok and d.rto_seconds is not None]
    restores.sort(key=lambda item: item[0], reverse=True)
    good = catalog.list_drill_results(site=site, ok=True, per_page=1).items
    newest = _newest_record(catalog, site)
    return SiteMetrics(
        site=site, success_rate_24h=rates["24h"], success_rate_7d=rates["7d"], success_rate_30d=rates["30d"],
        last_success=_last_success(catalog, site, recent),
        last_drill_success=_utc(good[0].created_at) if good else None,
        last_backup_duration=durations[0] if durations else None,
        last_restore_duration=restores[0][1] if restores else None,
        backup_durations=tuple(durations), restore_durations=tuple(d for _, d in restores[:RECENT_RUNS]),
        sources=_source_sizes(newest), repositories=_repository_stats(cfg, newest, measure),
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
        out.append(RepositoryStats(m.name, m.used_bytes, m.quota_bytes, m.snapshot_count, *ratios))
    return tuple(out)


def collect_metrics(catalog: Catalog, site_cfgs: Iterable[SiteConfig], now: datetime | None = None, *,
                    measure: Measure = measure_repository) -> MetricsSnapshot:
    """Every site's metrics at ``now`` (default: the current time), ready for
    :func:`~sitesnap.runtime.metrics.render_prometheus` and :func:`~sitesnap.runtime.metrics.metrics_json`.

    Reads the catalog and lists each repository's storage once per call;
    callers that serve frequent scrapes may pass a caching ``measure``.
    """
    at = _utc(now or datetime.now(UTC))
    return MetricsSnapshot(at, tuple(_site_metrics(catalog, cfg, at, measure) for cfg in site_cfgs))


# --- alert state in the catalog ------------------------------------------------------------


class CatalogStateStore:
    """The alert :class:`~sitesnap.runtime.alerts.StateStore` kept in the catalog's ``alert_states``.

    A catalog row is (site, rule) with state ``firing`` or ``resolved``; the
    key's subject (a repository, ``check:<repo>``) is folded into the rule
    column, and the whole :class:`AlertState` is kept in ``details``.
    Forgetting a key marks its row ``resolved`` (history stays).  Thread-safe
    as the catalog is.
    """

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    @staticmethod
    def rule_column(key: AlertKey) -> str:
        text = f"{key.rule}/{key.subject}" if key.subject else key.rule
        if len(text) <= 100:
            return text
        return f"{text[:83]}#{hashlib.sha256(text.encode()).hexdigest()[:16]}"

    def get_states(self, site: str) -> dict[AlertKey, AlertState]:
        states: dict[AlertKey, AlertState] = {}
        for row in self.catalog.list_alert_states(site=site, state="firing"):
            try:
                state = AlertState.from_dict(row.details["alert"])
            except (KeyError, TypeError, ValueError):
                continue  # a row written by something else: not ours to resolve
            states[state.key] = state
        return states

    def set_state(self, key: AlertKey, state: AlertState | None) -> None:
        rule = self.rule_column(key)
        if state is None:
            if self.catalog.get_alert_state(key.site, rule) is not None:
                self.catalog.set_alert_state(key.site, rule, "resolved")
            return
        self.catalog.set_alert_state(key.site, rule, "firing", details={"alert": state.to_dict()},
                                     last_sent=state.last_notified)


# --- configuration to rules and channels --------------------------------------------------


def alert_thresholds(cfg: SiteConfig) -> AlertThresholds:
    """The site's ``[alerts]`` limits and ``[site] rpo`` as rule thresholds."""
    a = cfg.alerts
    return AlertThresholds(
        consecutive_failures=a.consecutive_failures, storage_percent=a.storage_percent,
        duration_factor=a.duration_factor, duration_window=a.duration_window,
        duration_min_runs=a.duration_min_runs, rpo=cfg.site.rpo,
        disabled=frozenset(RuleId(r) for r in a.disabled),
    )


def _secret(value: Any, what: str) -> str | None:
    return None if value is None else resolve(value, what=what)


def _channel(spec: Any, where: str) -> Channel:
    name = spec.label
    if isinstance(spec, cfg_alerts.EmailChannel):
        return EmailChannel(host=spec.host, sender=spec.sender, recipients=list(spec.to), port=spec.port,
                            username=spec.username, password=_secret(spec.password, f"{where}.password"),
                            security=spec.security, name=name)
    if isinstance(spec, cfg_alerts.WebhookChannel):
        return WebhookChannel(spec.url, headers=dict(spec.headers), name=name)
    if isinstance(spec, cfg_alerts.SlackChannel):
        return SlackChannel(spec.url, name=name)
    if isinstance(spec, cfg_alerts.DingTalkChannel):
        return DingTalkChannel(spec.url, secret=_secret(spec.secret, f"{where}.secret"), name=name)
    if isinstance(spec, cfg_alerts.WeComChannel):
        return WeComChannel(spec.url, name=name)
    raise UsageError(f"{where}: unknown channel type {getattr(spec, 'type', '?')!r}")


def build_router(cfg: SiteConfig, *, only: str | None = None) -> Router:
    """Routes for the site's ``[[alerts.channels]]`` (secrets resolved now); ``only`` picks one by name."""
    routes = []
    for i, spec in enumerate(cfg.alerts.channels):
        if only is not None and spec.label != only:
            continue
        sites = tuple(spec.sites) or None
        routes.append(Route(_channel(spec, f"alerts.channels[{i}]"), sites, Severity(spec.min_severity)))
    if only is not None and not routes:
        known = ", ".join(c.label for c in cfg.alerts.channels) or "none"
        raise UsageError(f"no alert channel named {only!r} (known: {known})")
    return Router(routes)


def run_alerts(catalog: Catalog, site_cfgs: Iterable[SiteConfig], now: datetime | None = None, *,
               measure: Measure = measure_repository,
               renotify_after: timedelta | None = None) -> list[Notification]:
    """Evaluate every site's rules now, send what changed through its channels, remember it.

    Idempotent for unchanged facts: a condition is announced once and
    resolved once.  Returns the notifications with their deliveries.
    """
    at = _utc(now or datetime.now(UTC))
    sent: list[Notification] = []
    store = CatalogStateStore(catalog)
    for cfg in site_cfgs:
        facts = collect_facts(catalog, cfg, at, measure=measure)
        sent += evaluate_and_notify([facts], alert_thresholds(cfg), store, build_router(cfg),
                                    renotify_after=renotify_after)
    return sent


def test_channels(cfg: SiteConfig, channel: str | None = None) -> list[dict[str, Any]]:
    """Send the test message through each channel (or the named one): ``[{channel, ok, error}]``."""
    results = []
    for ch in build_router(cfg, only=channel).channels:
        try:
            send_test(ch, site=cfg.site.name, console_url=cfg.site.console_url)
        except SitesnapError as exc:
            results.append({"channel": ch.name, "ok": False, "error": exc.message})
        else:
            results.append({"channel": ch.name, "ok": True, "error": ""})
    return results


# --- status -----------------------------------------------------------------------------------


def site_status(catalog: Catalog, cfg: SiteConfig, now: datetime | None = None, *,
                measure: Measure = measure_repository) -> dict[str, Any]:
    """One site's health as JSON-ready data: backups vs RPO, drills, success rates, usage, alerts."""
    at = _utc(now or datetime.now(UTC))
    m = _site_metrics(catalog, cfg, at, measure)
    rpo = cfg.site.rpo.total_seconds()
    age = None if m.last_success is None else (at - m.last_success).total_seconds()
    drill = catalog.list_drill_results(site=cfg.site.name, per_page=1).items
    firing = [dict(a.details.get("alert", {}), rule=a.rule, since=a.since.isoformat())
              for a in catalog.list_alert_states(site=cfg.site.name, state="firing")]
    return {
        "site": cfg.site.name,
        "healthy": age is not None and age <= rpo and not firing and (not drill or drill[0].ok),
        "last_backup": {"at": None if m.last_success is None else m.last_success.isoformat(),
                        "age_seconds": age, "rpo_seconds": rpo, "within_rpo": age is not None and age <= rpo,
                        "duration_seconds": m.last_backup_duration,
                        "median_seconds": statistics.median(m.backup_durations) if m.backup_durations else None},
        "last_drill": None if not drill else {
            "at": _utc(drill[0].created_at).isoformat(), "ok": drill[0].ok, "snapshot_id": drill[0].snapshot_id,
            "rto_seconds": drill[0].rto_seconds, "message": _drill_message(drill[0].checks)},
        "success_rate": m.success_rates(),
        "repositories": [{"name": r.name, "used_bytes": r.used_bytes, "quota_bytes": r.quota_bytes,
                          "used_percent": 100.0 * r.used_bytes / r.quota_bytes if r.quota_bytes else None,
                          "snapshots": r.snapshot_count} for r in m.repositories],
        "firing_alerts": firing,
    }


# --- the drill job ----------------------------------------------------------------------------


def drill_job(ctx: JobContext) -> dict[str, Any]:
    """Params: ``snapshot`` (ID; default latest), ``keep`` (bool), ``read_data_subset`` ("10%" or a fraction).

    Runs the drill on the run's repository, records a DrillResult, then
    evaluates the site's alerts at once (a failed drill is an integrity
    alert, a passing one resolves it) and fails the run with
    :class:`IntegrityError` when the drill failed.  Without a
    ``read_data_subset`` parameter no pack read is added (the scheduled
    ``check`` job does that).
    """
    from sitesnap.engine.drill import run_drill
    from sitesnap.repository.check import parse_subset

    subset = ctx.params.get("read_data_subset")
    fraction = parse_subset(subset) if isinstance(subset, str) else (float(subset) if subset else None)
    with ctx.repository() as repo:
        report = run_drill(repo, ctx.cfg, repository=ctx.repo_cfg.name, snapshot=ctx.params.get("snapshot"),
                           keep=bool(ctx.params.get("keep")), read_data_subset=fraction, sink=ctx.sink, log=ctx.log)
    ctx.result.update(report.to_json())
    ctx.catalog.add_drill_result(ctx.cfg.site.name, report.snapshot_id, report.ok, rto_seconds=report.rto_seconds,
                                 checks=[c.to_dict() for c in report.checks], run_id=ctx.run_id)
    ctx.log(f"drill {'passed' if report.ok else 'FAILED'}: RTO {report.rto_seconds:.2f}s")
    try:
        notes = run_alerts(ctx.catalog, [ctx.cfg])
    except SitesnapError as exc:  # the drill's verdict stands even if alerting is misconfigured
        ctx.log(f"warning: alerts not evaluated: {exc.message}")
    else:
        ctx.result["notifications"] = [{"rule": n.rule, "kind": n.kind.value,
                                        "deliveries": [d.channel for d in n.deliveries if d.ok]} for n in notes]
    if not report.ok:
        raise IntegrityError(f"restore drill of {ctx.cfg.site.name} failed: {report.message}")
    return ctx.result


KINDS = {"drill": drill_job}
