"""The served site's :class:`MetricsSnapshot` for ``/metrics`` and the console's dashboard.

One source of truth: :func:`sitesnap.runtime.monitor.collect_metrics` (catalog
runs, records and drills, plus each repository's size).  Sizes of network
repositories are the ones their jobs recorded in the catalog
(:func:`~sitesnap.runtime.facts.stored_measure`): a request never waits on
cloud storage.  Local repositories are listed, at most once per
``MEASURE_TTL`` seconds each, so frequent scrapes stay cheap.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime

from sitesnap.catalog import Catalog
from sitesnap.config import RepositoryConfig, SiteConfig
from sitesnap.runtime.facts import stored_measure
from sitesnap.runtime.metrics import MetricsSnapshot
from sitesnap.runtime.monitor import RepositoryMeasure, measure_repository
from sitesnap.runtime.monitor import collect_metrics as collect_site_metrics

__all__ = ["MEASURE_TTL", "CachedMeasure", "collect_metrics"]

MEASURE_TTL = 60.0


class CachedMeasure:
    """``measure_repository`` with a time-to-live per repository URL; thread-safe."""

    def __init__(self, ttl: float = MEASURE_TTL) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, RepositoryMeasure | None]] = {}

    def __call__(self, repo_cfg: RepositoryConfig) -> RepositoryMeasure | None:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(repo_cfg.url)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        value = measure_repository(repo_cfg)
        with self._lock:
            self._cache[repo_cfg.url] = (now, value)
        return value


def collect_metrics(
    catalog: Catalog, config: SiteConfig, measure: CachedMeasure, *, now: datetime | None = None
) -> MetricsSnapshot:
    return collect_site_metrics(catalog, [config], now, measure=stored_measure(catalog, config.site.name, measure))
