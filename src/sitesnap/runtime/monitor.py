"""Monitoring: the API the web layer, the CLI and long-running processes use.

Each part has its own home; this module only gathers them::

    collect_facts(catalog, cfg, now)          -> SiteFacts        (runtime.facts)
    collect_metrics(catalog, cfgs, now)       -> MetricsSnapshot  (runtime.facts)
    site_status(catalog, cfg, now)            -> dict             (runtime.status)
    run_alerts(catalog, cfgs, now)            -> [Notification]   (runtime.alerts.routing)
    test_channels(cfg, channel)               -> [dict]           (runtime.alerts.routing)

The drill job is a job kind like any other (:mod:`sitesnap.runtime.jobs.drill`),
and the job runner evaluates alerts after every recorded run; neither
imports this module.
"""

from __future__ import annotations

from sitesnap.runtime.alerts.routing import (
    CatalogStateStore,
    alert_thresholds,
    build_router,
    evaluate_site_alerts,
    run_alerts,
    test_channels,
)
from sitesnap.runtime.facts import RepositoryMeasure, collect_facts, collect_metrics, measure_repository
from sitesnap.runtime.status import site_status

__all__ = [
    "CatalogStateStore",
    "RepositoryMeasure",
    "alert_thresholds",
    "build_router",
    "collect_facts",
    "collect_metrics",
    "evaluate_site_alerts",
    "measure_repository",
    "run_alerts",
    "site_status",
    "test_channels",
]
