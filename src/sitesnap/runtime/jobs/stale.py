"""Runs whose process died: found and closed as failed.

A run row says ``running`` until its process writes the final status.  If
the process is killed (``kill -9``, OOM, power loss) nobody does, so the
row is *abandoned*: on this host when its pid no longer exists, on any host
when its heartbeat (rewritten every few seconds by the running job, see
:mod:`.recorder`) is older than ``stale_after``.  :func:`reap_stale_runs` marks
such runs failed with error code ``interrupted``, and the placeholder backup
record of an abandoned backup failed too.  It is idempotent and cheap, so the
scheduler, workers, ``run_job`` and ``sitesnap runs`` all call it.
"""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta

from sitesnap.catalog import Catalog, RunInfo
from sitesnap.errors import Interrupted
from sitesnap.process import pid_alive

__all__ = ["STALE_AFTER", "placeholder_id", "reap_stale_runs", "run_is_abandoned"]

STALE_AFTER = timedelta(minutes=2)

def placeholder_id(run_id: str) -> str:
    """The backup record that stands for a backup run until its snapshot exists."""
    return f"run-{run_id}"


def _heartbeat(run: RunInfo) -> datetime | None:
    text = run.progress.get("heartbeat") if isinstance(run.progress, dict) else None
    try:
        return datetime.fromisoformat(text) if isinstance(text, str) else None
    except ValueError:
        return None


def run_is_abandoned(run: RunInfo, now: datetime, *, host: str | None = None,
                     stale_after: timedelta = STALE_AFTER) -> str | None:
    """Why ``run`` (status running) is abandoned, or None while it may still be alive."""
    if run.status != "running":
        return None
    here = host or socket.gethostname()
    if run.host == here and run.pid is not None and not pid_alive(run.pid):
        return f"process {run.pid} on {run.host} is gone"
    last = _heartbeat(run) or run.started_at or run.created_at
    if now - last > stale_after:
        return f"no heartbeat since {last.isoformat(timespec='seconds')}"
    return None


def reap_stale_runs(catalog: Catalog, *, site: str | None = None, now: datetime | None = None,
                    stale_after: timedelta = STALE_AFTER) -> list[RunInfo]:
    """Mark abandoned runs failed; returns them as they are now."""
    now = now or datetime.now(UTC)
    running: list[RunInfo] = []
    page = 1
    while True:
        batch = catalog.list_runs(site=site, status="running", page=page, per_page=200)
        running += batch.items
        if page >= batch.pages:
            break
        page += 1
    reaped: list[RunInfo] = []
    for run in running:
        why = run_is_abandoned(run, now, stale_after=stale_after)
        if why is None:
            continue
        error = Interrupted(f"run abandoned: {why}")
        reaped.append(catalog.finish_run(run.id, "failed", error=error))
        if run.kind == "backup" and catalog.get_backup_record(placeholder_id(run.id)) is not None:
            catalog.upsert_backup_record(placeholder_id(run.id), status="failed",
                                         metadata={"error": {"code": error.code, "message": error.message}})
    return reaped
