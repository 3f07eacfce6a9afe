"""Recorded jobs: every operation run the same way, whoever starts it.

Public API::

    run_job(kind, site_cfg, params, *, catalog, triggered_by, sink=None, run_id=None,
            actor="", worker="", password=None, lock_wait=0.0, function=None) -> RunResult
    reconcile_records(catalog, site_cfg, repo_cfg, repo) -> Reconciled   # records == snapshot IDs
    job_kinds() -> Mapping[str, JobKind]              # backup, restore, check, ... (registry.KINDS)
    reap_stale_runs(catalog, *, site=None) -> list[RunInfo]
    rebuild_catalog(site_cfg, catalog, *, password=None) -> RebuildReport
    FileLock(path).acquire(wait=0.0)                  # raises LockBusy
"""

from __future__ import annotations

from sitesnap.runtime.jobs.filelock import FileLock, LockBusy
from sitesnap.runtime.jobs.kinds import BACKUP_SNAPSHOT_TYPES, JobContext, JobFunction
from sitesnap.runtime.jobs.rebuild import RebuildReport, rebuild_catalog
from sitesnap.runtime.jobs.reconcile import Reconciled, reconcile_records
from sitesnap.runtime.jobs.records import record_fields, record_type
from sitesnap.runtime.jobs.registry import KINDS, LOCKED_KINDS, JobKind, job_kind, job_kinds
from sitesnap.runtime.jobs.runner import RunResult, run_job, run_lock
from sitesnap.runtime.jobs.stale import STALE_AFTER, placeholder_id, reap_stale_runs, run_is_abandoned

__all__ = [
    "BACKUP_SNAPSHOT_TYPES",
    "KINDS",
    "LOCKED_KINDS",
    "STALE_AFTER",
    "FileLock",
    "JobContext",
    "JobFunction",
    "JobKind",
    "LockBusy",
    "RebuildReport",
    "Reconciled",
    "RunResult",
    "job_kind",
    "job_kinds",
    "placeholder_id",
    "reap_stale_runs",
    "rebuild_catalog",
    "reconcile_records",
    "record_fields",
    "record_type",
    "run_is_abandoned",
    "run_job",
    "run_lock",
]
