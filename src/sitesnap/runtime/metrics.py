"""Health metrics for Prometheus (``/metrics``) and the console (JSON).

The input is a :class:`MetricsSnapshot`: plain numbers per site that the
catalog and the repositories provide.  :func:`render_prometheus` builds the
metrics in a fresh ``CollectorRegistry`` on every call, so there is no global
registry, nothing leaks between sites or tests, and a scrape always shows the
current catalog.  :func:`metrics_json` gives the console the same numbers.

Every metric is prefixed ``sitesnap_`` and labelled by ``site`` (and
``repository`` or ``source`` where it applies).  Unknown values (``None``) are
left out rather than exported as zero, so "never succeeded" cannot look like
"succeeded at the epoch".  Datetimes should be timezone-aware; naive ones are
taken as UTC.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from sitesnap.runtime.alerts.model import CaptureState

__all__ = [
    "DURATION_BUCKETS",
    "WINDOWS",
    "MetricsSnapshot",
    "RepositoryStats",
    "SiteMetrics",
    "SourceSize",
    "build_registry",
    "metrics_json",
    "render_prometheus",
    "success_rate",
]

WINDOWS: dict[str, timedelta] = {
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}

DURATION_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0,
                    14400.0, 43200.0, 86400.0, float("inf"))


@dataclass(frozen=True)
class SourceSize:
    """Size of one source in the newest snapshot."""

    name: str
    size_bytes: int


@dataclass(frozen=True)
class RepositoryStats:
    """One repository of a site.  Ratios are logical/stored (>= 1 means savings).

    ``measured_at``: when a job last listed the repository (sizes of network
    repositories are that old); ``None`` when it was listed just now.
    """

    name: str
    used_bytes: int
    quota_bytes: int | None = None
    snapshot_count: int = 0
    dedup_ratio: float | None = None
    compression_ratio: float | None = None
    measured_at: datetime | None = None


@dataclass(frozen=True)
class SiteMetrics:
    """Per-site numbers.  Success rates are 0..1 per window (``None``: no runs in it).

    Durations are in seconds; ``backup_durations`` / ``restore_durations`` are
    the recent runs (restores include drills), newest first.
    """

    site: str
    success_rate_24h: float | None = None
    success_rate_7d: float | None = None
    success_rate_30d: float | None = None
    last_success: datetime | None = None
    last_drill_success: datetime | None = None
    last_backup_duration: float | None = None
    last_restore_duration: float | None = None
    backup_durations: tuple[float, ...] = ()
    restore_durations: tuple[float, ...] = ()
    sources: tuple[SourceSize, ...] = ()
    repositories: tuple[RepositoryStats, ...] = ()
    captures: tuple[CaptureState, ...] = ()

    def success_rates(self) -> dict[str, float | None]:
        return {"24h": self.success_rate_24h, "7d": self.success_rate_7d,
                "30d": self.success_rate_30d}


@dataclass(frozen=True)
class MetricsSnapshot:
    """All sites' metrics at ``now`` (which "seconds since" values are relative to)."""

    now: datetime
    sites: tuple[SiteMetrics, ...] = ()


def success_rate(outcomes: Iterable[tuple[datetime, bool]], now: datetime,
                 window: timedelta) -> float | None:
    """Share of successful runs that finished within ``window`` before ``now``.

    ``outcomes`` are (finished, succeeded) pairs; ``None`` when none fall in
    the window.  A helper for whoever fills :class:`SiteMetrics`.
    """
    start = _utc(now) - window
    inside = [ok for at, ok in outcomes if start < _utc(at) <= _utc(now)]
    return sum(inside) / len(inside) if inside else None


def _utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt


def _since(now: datetime, then: datetime | None) -> float | None:
    return None if then is None else (_utc(now) - _utc(then)).total_seconds()


class _Builder:
    """Creates the metric families in one registry; one instance per render."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def gauge(self, name: str, doc: str, labels: Sequence[str]) -> Gauge:
        return Gauge(f"sitesnap_{name}", doc, list(labels), registry=self.registry)

    def histogram(self, name: str, doc: str) -> Histogram:
        return Histogram(f"sitesnap_{name}", doc, ["site"], buckets=DURATION_BUCKETS,
                         registry=self.registry)


class _CaptureFamilies:
    """The continuous-capture metrics, labelled by site and source (DESIGN.md §13: lag = current RPO)."""

    def __init__(self, b: _Builder) -> None:
        labels = ["site", "source"]
        self.lag = b.gauge("capture_lag_seconds", "Seconds since the capture last shipped a commit or reported "
                           "(the current RPO of a continuous source).", labels)
        self.shipped = b.gauge("capture_last_shipped_timestamp_seconds",
                               "Unix time of the newest commit the capture shipped.", labels)
        self.oldest = b.gauge("capture_oldest_restorable_timestamp_seconds",
                              "Unix time of the oldest moment a continuous source can be restored to.", labels)
        self.segments = Counter("sitesnap_capture_segments", "Log segments the capture shipped.", labels,
                                registry=b.registry)

    def add(self, now: datetime, site: str, captures: Sequence[CaptureState]) -> None:
        for c in captures:
            key = (site, c.source)
            lag = c.lag(_utc(now))
            _put(self.lag, key, None if lag is None else lag.total_seconds())
            _put(self.shipped, key, None if c.last_shipped is None else _utc(c.last_shipped).timestamp())
            _put(self.oldest, key, None if c.oldest_restorable is None else _utc(c.oldest_restorable).timestamp())
            if c.segments_total:
                self.segments.labels(*key).inc(c.segments_total)
            elif c.reported is not None:
                self.segments.labels(*key)


def build_registry(snapshot: MetricsSnapshot) -> CollectorRegistry:
    """A new registry holding every metric of ``snapshot``."""
    registry = CollectorRegistry(auto_describe=True)
    b = _Builder(registry)
    rate = b.gauge("backup_success_ratio", "Share of successful backups in the window (0..1).",
                   ["site", "window"])
    last_ok = b.gauge("last_success_timestamp_seconds",
                      "Unix time the newest successful backup finished.", ["site"])
    since_ok = b.gauge("seconds_since_last_success",
                       "Seconds since the newest successful backup finished.", ["site"])
    last_drill = b.gauge("last_drill_success_timestamp_seconds",
                         "Unix time of the newest successful restore drill.", ["site"])
    since_drill = b.gauge("seconds_since_last_drill_success",
                          "Seconds since the newest successful restore drill.", ["site"])
    last_backup = b.gauge("last_backup_duration_seconds", "Duration of the newest backup.",
                          ["site"])
    last_restore = b.gauge("last_restore_duration_seconds",
                           "Duration of the newest restore or drill (the measured RTO).", ["site"])
    backup_hist = b.histogram("backup_duration_seconds", "Durations of recent backups.")
    restore_hist = b.histogram("restore_duration_seconds", "Durations of recent restores/drills.")
    source_size = b.gauge("source_size_bytes", "Size of a source in the newest snapshot.",
                          ["site", "source"])
    repo_labels = ["site", "repository"]
    used = b.gauge("repository_used_bytes", "Bytes stored in the repository.", repo_labels)
    quota = b.gauge("repository_quota_bytes", "The repository's quota in bytes.", repo_labels)
    snaps = b.gauge("repository_snapshots", "Snapshots in the repository.", repo_labels)
    dedup = b.gauge("repository_dedup_ratio", "Logical bytes / unique bytes.", repo_labels)
    comp = b.gauge("repository_compression_ratio", "Unique bytes / stored bytes.", repo_labels)
    capture = _CaptureFamilies(b)

    for s in snapshot.sites:
        site = s.site
        for window, value in s.success_rates().items():
            _put(rate, (site, window), value)
        _put(last_ok, (site,), None if s.last_success is None else _utc(s.last_success).timestamp())
        _put(since_ok, (site,), _since(snapshot.now, s.last_success))
        _put(last_drill, (site,),
             None if s.last_drill_success is None else _utc(s.last_drill_success).timestamp())
        _put(since_drill, (site,), _since(snapshot.now, s.last_drill_success))
        _put(last_backup, (site,), s.last_backup_duration)
        _put(last_restore, (site,), s.last_restore_duration)
        _observe(backup_hist, site, s.backup_durations)
        _observe(restore_hist, site, s.restore_durations)
        for src in s.sources:
            _put(source_size, (site, src.name), src.size_bytes)
        for r in s.repositories:
            key = (site, r.name)
            _put(used, key, r.used_bytes)
            _put(snaps, key, r.snapshot_count)
            _put(quota, key, r.quota_bytes)
            _put(dedup, key, r.dedup_ratio)
            _put(comp, key, r.compression_ratio)
        capture.add(snapshot.now, site, s.captures)
    return registry


def render_prometheus(snapshot: MetricsSnapshot) -> bytes:
    """The Prometheus text exposition format (``text/plain; version=0.0.4``)."""
    return generate_latest(build_registry(snapshot))


def _put(gauge: Gauge, labels: tuple[str, ...], value: float | None) -> None:
    """Set a labelled gauge; an unknown value creates no series at all."""
    if value is not None:
        gauge.labels(*labels).set(value)


def _observe(hist: Histogram, site: str, values: Sequence[float]) -> None:
    if values:
        child = hist.labels(site)
        for v in values:
            child.observe(v)


def metrics_json(snapshot: MetricsSnapshot) -> dict[str, Any]:
    """The same numbers, shaped for the console's dashboard."""
    return {
        "generated_at": _utc(snapshot.now).isoformat(),
        "sites": [_site_json(snapshot.now, s) for s in snapshot.sites],
    }


def _iso(dt: datetime | None) -> str | None:
    return None if dt is None else _utc(dt).isoformat()


def _durations(last: float | None, recent: Sequence[float]) -> dict[str, Any]:
    return {
        "last_seconds": last,
        "recent_seconds": list(recent),
        "median_seconds": statistics.median(recent) if recent else None,
    }


def _capture_json(now: datetime, c: CaptureState) -> dict[str, Any]:
    lag = c.lag(_utc(now))
    return {"source": c.source, "lag_seconds": None if lag is None else lag.total_seconds(),
            "last_shipped_at": _iso(c.last_shipped), "last_report_at": _iso(c.reported),
            "oldest_restorable_at": _iso(c.oldest_restorable), "segments_total": c.segments_total}


def _site_json(now: datetime, s: SiteMetrics) -> dict[str, Any]:
    return {
        "site": s.site,
        "success_rate": s.success_rates(),
        "last_success": _iso(s.last_success),
        "seconds_since_last_success": _since(now, s.last_success),
        "last_drill_success": _iso(s.last_drill_success),
        "seconds_since_last_drill_success": _since(now, s.last_drill_success),
        "backup_duration": _durations(s.last_backup_duration, s.backup_durations),
        "restore_duration": _durations(s.last_restore_duration, s.restore_durations),
        "sources": [{"name": x.name, "size_bytes": x.size_bytes} for x in s.sources],
        "captures": [_capture_json(now, c) for c in s.captures],
        "repositories": [
            {
                "name": r.name,
                "used_bytes": r.used_bytes,
                "quota_bytes": r.quota_bytes,
                "used_percent": (100.0 * r.used_bytes / r.quota_bytes
                                 if r.quota_bytes else None),
                "snapshot_count": r.snapshot_count,
                "dedup_ratio": r.dedup_ratio,
                "compression_ratio": r.compression_ratio,
                "measured_at": _iso(r.measured_at) or _iso(now),
                "size_age_seconds": _since(now, r.measured_at) or 0.0,
            }
            for r in s.repositories
        ],
    }
