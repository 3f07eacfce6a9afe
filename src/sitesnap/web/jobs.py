"""Starting recorded jobs from a request: the run id now, the work in the background.

The run is recorded ``queued`` first (so the id exists before the response
is sent), then :func:`sitesnap.runtime.jobs.run_job` runs it in a thread —
or, when ``[runtime] broker`` is set, is sent to the Celery workers
(:func:`sitesnap.runtime.celery_app.enqueue_job`).  A job that cannot even start (an
unknown repository, a broken catalog) closes its run as failed, so no run is
left ``queued`` forever.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from sitesnap.catalog import Catalog
from sitesnap.config import SiteConfig
from sitesnap.errors import SitesnapError
from sitesnap.web.state import JobStarter

__all__ = ["thread_job_starter"]

log = logging.getLogger(__name__)


def _enqueue(kind: str, cfg: SiteConfig, params: dict[str, Any], actor: str, catalog: Catalog) -> str | None:
    """Hand the job to the Celery workers when ``[runtime] broker`` is set; None otherwise."""
    if not cfg.runtime.broker:
        return None
    from sitesnap.runtime.celery_app import enqueue_job

    return enqueue_job(cfg, kind, params, catalog=catalog, triggered_by="api", actor=actor)


def thread_job_starter(catalog: Catalog, threads: list[threading.Thread]) -> JobStarter:
    """A :data:`JobStarter` running each job in its own daemon thread (tracked in ``threads``)."""

    def start(kind: str, cfg: SiteConfig, params: dict[str, Any], actor: str) -> str:
        queued = _enqueue(kind, cfg, params, actor, catalog)
        if queued is not None:
            return queued
        repository = str(params.get("repository") or (cfg.repositories[0].name if cfg.repositories else ""))
        run = catalog.start_run(kind, site=cfg.site.name, repository=repository, triggered_by="api", actor=actor,
                                status="queued")
        thread = threading.Thread(target=_run, args=(kind, cfg, dict(params), actor, catalog, run.id),
                                  name=f"sitesnap-{kind}-{run.id[:8]}", daemon=True)
        threads[:] = [t for t in threads if t.is_alive()]
        threads.append(thread)
        thread.start()
        return run.id

    return start


def _run(kind: str, cfg: SiteConfig, params: dict[str, Any], actor: str, catalog: Catalog, run_id: str) -> None:
    from sitesnap.runtime.jobs import run_job

    try:
        run_job(kind, cfg, params, catalog=catalog, triggered_by="api", run_id=run_id, actor=actor)
    except SitesnapError as exc:
        _fail(catalog, run_id, exc)
    except Exception as exc:  # a thread has nobody to raise to: record it
        log.exception("job %s (%s) could not run", run_id, kind)
        _fail(catalog, run_id, exc)


def _fail(catalog: Catalog, run_id: str, exc: BaseException) -> None:
    run = catalog.get_run(run_id)
    if run is not None and run.status in ("queued", "running"):
        catalog.finish_run(run_id, "failed", error=exc)
