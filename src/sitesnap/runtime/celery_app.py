"""Distributed mode: jobs carried by Redis to Celery workers that run the same :func:`run_job`.

With ``[runtime] broker = "redis://..."`` the scheduler (and the web API)
only *enqueue*: :func:`enqueue_job` records a ``queued`` run in the catalog
and sends one task naming the site's configuration file, the job kind, its
parameters and the run ID.  A worker (``sitesnap worker``,
:func:`run_worker`) loads that configuration, marks the run ``running`` and
calls :func:`run_job`; progress and results reach the catalog, which must
therefore be shared by all hosts (PostgreSQL, or an SQLite file on one
machine).

Tasks are acknowledged when received, not after running: a worker killed in
the middle of a backup must not have the backup redelivered to another
worker an hour later.  Its run stays ``running`` until the reaper
(:func:`reap_stale_runs`, run by workers, the scheduler and ``run_job``)
sees its process gone or its heartbeat stale and closes it as failed; the
repository is consistent by its write order, and its stale lock is removed by
the next operation on that host.  Workers fetch a task only when idle
(``worker_disable_prefetch``), so several workers share a queue fairly.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from pathlib import Path
from typing import Any

from celery import Celery, Task
from kombu.connection import Connection

from sitesnap.catalog import RUN_KINDS, Catalog, open_catalog
from sitesnap.config import SiteConfig, load_config
from sitesnap.errors import BrokerError, UsageError
from sitesnap.runtime.alerts.timer import AlertTimer
from sitesnap.runtime.jobs import reap_stale_runs, run_job

__all__ = ["QUEUE", "TASK_NAME", "check_broker", "enqueue_job", "make_app", "run_worker"]

TASK_NAME = "sitesnap.run_job"
QUEUE = "sitesnap"
CONNECT_TIMEOUT = 5.0


QUEUED_TASK = "queued_task"


def task_digest(config_path: str, kind: str, params: dict[str, Any], run_id: str, triggered_by: str) -> str:
    """SHA-256 of a task's arguments, recorded in the catalog when it is queued and checked by the worker."""
    canonical = json.dumps([config_path, kind, params, run_id, triggered_by], sort_keys=True, separators=(",", ":"),
                           default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def run_task(task: Task, config_path: str, kind: str, params: dict[str, Any], run_id: str,
             triggered_by: str) -> dict[str, Any]:
    """The Celery task body: one queued run, run by :func:`run_job` in this worker."""
    cfg = load_config(config_path)
    catalog = open_catalog(cfg.runtime.catalog_url)
    try:
        run = catalog.get_run(run_id)
        if run is None or run.status != "queued":
            return {"run_id": run_id, "skipped": f"run is {run.status if run else 'unknown'}"}
        if run.progress.get(QUEUED_TASK) != task_digest(config_path, kind, params, run_id, triggered_by):
            # The broker is not trusted with what a job does: a message changed in Redis (another
            # kind, other parameters, another target) does not match what was queued.
            error = UsageError("this task does not match the run that was queued (changed in the broker?)")
            catalog.finish_run(run_id, "failed", error=error)
            return {"run_id": run_id, "skipped": str(error)}
        worker = str(getattr(task.request, "hostname", "") or f"celery@{socket.gethostname()}")
        result = run_job(kind, cfg, params, catalog=catalog, triggered_by=triggered_by, run_id=run_id,
                         worker=worker, lock_wait=float(params.get("lock_wait", 600)))
        return {"run_id": run_id, "status": result.status}
    finally:
        catalog.close()


def make_app(broker: str) -> Celery:
    """A Celery app for ``broker`` with the one sitesnap task; no result backend (the catalog is one)."""
    app = Celery("sitesnap", broker=broker, set_as_current=False)
    app.conf.update(
        task_default_queue=QUEUE,
        task_acks_late=False,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        worker_prefetch_multiplier=1,
        worker_disable_prefetch=True,
        worker_hijack_root_logger=False,
        broker_connection_timeout=CONNECT_TIMEOUT,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"socket_connect_timeout": CONNECT_TIMEOUT, "max_retries": 1},
    )
    app.task(name=TASK_NAME, bind=True)(run_task)
    return app


def check_broker(broker: str) -> None:
    """Connect once; raises :class:`BrokerError` with the reason when the broker is unreachable."""
    try:
        with Connection(broker, connect_timeout=CONNECT_TIMEOUT) as conn:  # type: ignore[no-untyped-call]
            conn.ensure_connection(max_retries=1, timeout=CONNECT_TIMEOUT)
    except Exception as exc:
        raise BrokerError(f"{_redact(broker)}: {_reason(exc)}") from None


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _redact(url: str) -> str:
    from sitesnap.catalog import redact_url

    return redact_url(url)


def _site_broker(cfg: SiteConfig) -> str:
    if not cfg.runtime.broker:
        raise UsageError("no broker configured", hint='Set [runtime] broker = "redis://host:6379/0".')
    return cfg.runtime.broker


def enqueue_job(cfg: SiteConfig, kind: str, params: dict[str, Any] | None = None, *, catalog: Catalog,
                triggered_by: str = "scheduler", actor: str = "") -> str:
    """Record a queued run and send it to the workers; returns the run ID.

    The configuration must come from a file every worker can read at the
    same path.  Raises :class:`BrokerError` (and records the run as failed)
    when the broker cannot be reached.
    """
    params = dict(params or {})
    if kind not in RUN_KINDS:
        raise UsageError(f"unknown job kind {kind!r}", hint=f"Use one of: {', '.join(RUN_KINDS)}.")
    if cfg.path is None:
        raise UsageError("distributed jobs need the site configuration in a file the workers can read")
    broker = _site_broker(cfg)
    repo_name = str(params.get("repository") or cfg.primary.name)
    run = catalog.start_run(kind, site=cfg.site.name, repository=repo_name, triggered_by=triggered_by, actor=actor,
                            status="queued")
    config_path = str(Path(cfg.path).absolute())
    catalog.update_run_progress(run.id, {QUEUED_TASK: task_digest(config_path, kind, params, run.id, triggered_by)})
    app = make_app(broker)
    try:
        check_broker(broker)
        app.send_task(TASK_NAME, args=[config_path, kind, params, run.id, triggered_by],
                      queue=QUEUE, retry=True, retry_policy={"max_retries": 1, "interval_start": 0.2})
    except BrokerError as exc:
        catalog.finish_run(run.id, "failed", error=exc)
        raise
    except Exception as exc:
        error = BrokerError(f"{_redact(broker)}: {_reason(exc)}")
        catalog.finish_run(run.id, "failed", error=error)
        raise error from None
    finally:
        app.close()
    return run.id


def run_worker(cfg: SiteConfig, *, concurrency: int = 1, name: str | None = None, loglevel: str = "INFO") -> None:
    """Run a Celery worker for the site's broker until it is stopped (blocks).

    One task at a time in the worker process by default (``solo`` pool: a
    kill stops the backup with it); ``concurrency`` > 1 runs tasks in
    threads.  Abandoned runs of the site are reaped first; while it runs,
    the site's alerts are evaluated on a timer (:class:`AlertTimer`), so the
    RPO alert fires in a deployment whose only long-running processes are
    workers.
    """
    broker = _site_broker(cfg)
    check_broker(broker)
    catalog = open_catalog(cfg.runtime.catalog_url)
    try:
        reap_stale_runs(catalog, site=cfg.site.name)
    finally:
        catalog.close()
    app = make_app(broker)
    pool = ["--pool=solo", "--concurrency=1"]
    if concurrency > 1:
        pool = ["--pool=threads", f"--concurrency={concurrency}"]
    hostname = name or f"sitesnap-{os.getpid()}@{socket.gethostname()}"
    timer = AlertTimer(cfg, lambda: open_catalog(cfg.runtime.catalog_url), owns_catalog=True).start()
    try:
        app.worker_main(["worker", *pool, "-Q", QUEUE, "-n", hostname, f"--loglevel={loglevel}",
                         "--without-gossip", "--without-mingle", "--without-heartbeat"])
    finally:
        timer.stop(wait=False)
