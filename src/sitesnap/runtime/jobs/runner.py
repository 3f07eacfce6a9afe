"""``run_job``: the one way any operation runs, from the CLI, the scheduler, Celery or the web.

A run goes ``queued`` (only when a broker carries it) → ``running`` →
``completed`` | ``failed`` | ``cancelled`` in the catalog, with throttled
progress, a heartbeat, log lines, the result and, on failure, the error's
code and message.  Operations that change a repository take a file lock per
(site, repository) in the state directory first, so two of them never run
at once on one machine (the repository's own locks cover several machines).
A backup is visible in the records list from its start as a placeholder
record ``run-<run id>``; it becomes the snapshot's record on success and
stays as a failed record otherwise.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sitesnap.catalog import Catalog, RunInfo
from sitesnap.config import SiteConfig
from sitesnap.errors import Interrupted, RepositoryLocked, SitesnapError, UsageError
from sitesnap.progress import ProgressSink
from sitesnap.runtime.jobs.filelock import FileLock, LockBusy, describe_holder
from sitesnap.runtime.jobs.kinds import JobContext, JobFunction
from sitesnap.runtime.jobs.recorder import RunRecorder
from sitesnap.runtime.jobs.registry import JobKind, job_kind, job_kinds
from sitesnap.runtime.jobs.sizes import with_sizes
from sitesnap.runtime.jobs.stale import placeholder_id, reap_stale_runs

__all__ = ["RunResult", "run_job", "run_lock"]


@dataclass(frozen=True)
class RunResult:
    """How a run ended.  ``error`` is set exactly when ``status`` is not ``completed``."""

    run_id: str
    kind: str
    status: str
    result: dict[str, Any] = field(default_factory=dict)
    error: SitesnapError | None = None

    @property
    def ok(self) -> bool:
        return self.status == "completed"

    def raise_for_error(self) -> None:
        """Raise the run's error (for edges that turn it into an exit code)."""
        if self.error is not None:
            raise self.error

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"run_id": self.run_id, "kind": self.kind, "status": self.status,
                               "result": self.result}
        if self.error is not None:
            out["error"] = self.error.to_dict()
        return out


def run_lock(cfg: SiteConfig, repository: str) -> FileLock:
    """The lock serialising changes to ``repository`` of this site on this machine."""
    path = Path(cfg.runtime.state_dir) / "locks" / f"{cfg.site.name}.{repository}.lock"
    return FileLock(path, site=cfg.site.name, repository=repository)


def _placeholder(catalog: Catalog, cfg: SiteConfig, run: RunInfo, params: dict[str, Any], location: str) -> None:
    catalog.upsert_backup_record(
        placeholder_id(run.id), site=cfg.site.name, backup_type=str(params.get("type", "incremental")),
        status="running", created_at=run.started_at or run.created_at, location=location,
        hostname=socket.gethostname(), run_id=run.id,
        metadata={"tags": list(params.get("tags") or []), "sources": list(params.get("sources") or [])})


def run_job(
    kind: str, site_cfg: SiteConfig, params: dict[str, Any] | None = None, *, catalog: Catalog,
    triggered_by: str = "cli", sink: ProgressSink | None = None, run_id: str | None = None,
    actor: str = "", worker: str = "", password: str | None = None, lock_wait: float = 0.0,
    function: JobFunction | None = None,
) -> RunResult:
    """Run one operation on a site, record it, then evaluate the site's alerts; never raises for
    the operation's own failure.

    ``function`` replaces the kind's job function for this run: an edge
    whose options the kind's params do not carry (``forget SNAPSHOT_ID``,
    ``prune --max-unused``) runs its own call, recorded as that kind.

    ``params`` are the kind's parameters (see :mod:`.registry`) plus
    ``repository`` (a repository name; default: the primary).  ``run_id``
    names a run already recorded as ``queued`` (by :func:`enqueue_job`).
    ``lock_wait`` is how long to wait for another operation on the same
    repository to finish before giving up with a ``cancelled`` run whose error
    is :class:`RepositoryLocked`.  Raises :class:`UsageError` (nothing
    recorded) for an unknown kind or repository, :class:`CatalogError` when the
    catalog is unusable; ``KeyboardInterrupt`` (or the :class:`Interrupted` an interrupted backup
    raises) is recorded as cancelled and re-raised.
    Alerts are evaluated after the run is closed (:func:`evaluate_site_alerts`), so
    the run's outcome is among the facts; the notifications go into the
    returned result's ``notifications``.
    """
    params = dict(params or {})
    job = job_kind(kind)
    if job is None:
        raise UsageError(f"unknown or unavailable job kind {kind!r}",
                         hint=f"Available: {', '.join(sorted(job_kinds()))}.")
    if function is not None:
        job = dataclasses.replace(job, function=function)
    repo_name = params.get("repository")
    repo_cfg = site_cfg.repository(str(repo_name)) if repo_name else site_cfg.primary
    reap_stale_runs(catalog, site=site_cfg.site.name)
    run = _open_run(catalog, kind, site_cfg.site.name, repo_cfg.name, run_id, triggered_by, actor, worker)
    recorder = RunRecorder(catalog, run.id, sink)
    recorder.log(f"{kind} of site {site_cfg.site.name} on repository {repo_cfg.name} ({triggered_by}"
                 f"{', ' + worker if worker else ''}, pid {os.getpid()})")
    ctx = JobContext(site_cfg, repo_cfg, params, catalog, run.id, recorder, recorder.log, password)
    closing = _Closing(catalog, recorder, kind, run.id, ctx, actor or triggered_by)
    result = _execute(job, ctx, run, closing, lock_wait)
    if job.alerts:
        from sitesnap.runtime.alerts.routing import evaluate_site_alerts

        notes = evaluate_site_alerts(catalog, site_cfg)
        result.result["notifications"] = [{"rule": n.rule, "kind": n.kind.value,
                                           "deliveries": [d.channel for d in n.deliveries if d.ok]} for n in notes]
    return result


def _open_run(catalog: Catalog, kind: str, site: str, repository: str, run_id: str | None, triggered_by: str,
              actor: str, worker: str) -> RunInfo:
    """Mark the queued run ``run_id`` started, or record a new running one."""
    host, pid = socket.gethostname(), os.getpid()
    if run_id is None:
        return catalog.start_run(kind, site=site, repository=repository, triggered_by=triggered_by, actor=actor,
                                 worker=worker, host=host, pid=pid)
    catalog.mark_run_started(run_id, worker=worker, host=host, pid=pid)
    run = catalog.get_run(run_id)
    assert run is not None
    return run


def _execute(job: JobKind, ctx: JobContext, run: RunInfo, closing: _Closing, lock_wait: float) -> RunResult:
    """Take the run lock if the kind needs it, run the job function, close the run however it ends."""
    cfg, repo_name = ctx.cfg, ctx.repo_cfg.name
    lock = run_lock(cfg, repo_name) if job.locked else None
    try:
        if lock is not None:
            try:
                lock.acquire(wait=lock_wait)
            except LockBusy as busy:
                raise RepositoryLocked(
                    f"another operation on {cfg.site.name}/{repo_name} is running ({describe_holder(busy.holder)})",
                    hint="Wait for it to finish; see 'sitesnap runs'.") from None
        if job.placeholder:
            _placeholder(ctx.catalog, cfg, run, dict(ctx.params), ctx.repo_cfg.url)
            closing.placeholder = True
        result = with_sizes(job.name, ctx, job.function(ctx))
    except RepositoryLocked as exc:
        return closing("cancelled", exc)
    except Interrupted as exc:  # Ctrl-C turned into a stopped backup: recorded, then passed on like the interrupt
        closing("cancelled", exc)
        raise
    except SitesnapError as exc:
        return closing("failed", exc)
    except KeyboardInterrupt:
        closing("cancelled", Interrupted())
        raise
    except Exception as exc:
        ctx.log("".join(traceback.format_exception(exc)).rstrip())
        return closing("failed", SitesnapError(f"internal error: {type(exc).__name__}: {exc}"))
    finally:
        if lock is not None:
            lock.release()
    return closing("completed", None, result)


@dataclass
class _Closing:
    """Writes a run's end: placeholder record, final status, audit event."""

    catalog: Catalog
    recorder: RunRecorder
    kind: str
    run_id: str
    ctx: JobContext
    actor: str
    placeholder: bool = False

    def __call__(self, status: str, error: SitesnapError | None, result: dict[str, Any] | None = None) -> RunResult:
        catalog, recorder = self.catalog, self.recorder
        recorder.close()
        recorder.log(f"{status}: {error.message}" if error is not None else status)
        if self.placeholder and error is not None:
            catalog.upsert_backup_record(placeholder_id(self.run_id), status="failed", metadata={
                "error": {"code": error.code, "message": error.message}})
        elif self.placeholder:
            catalog.delete_backup_record(placeholder_id(self.run_id))
        final = dict(result if result is not None else self.ctx.result)
        catalog.finish_run(self.run_id, status, result=final, error=error)
        details: dict[str, Any] = {"run_id": self.run_id, "status": status}
        if error is not None:
            details["error"] = error.code
        catalog.add_audit(self.actor, f"run.{self.kind}", self.ctx.cfg.site.name, details=details)
        return RunResult(self.run_id, self.kind, status, final, error)
