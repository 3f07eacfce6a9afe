"""``scheduler``, ``worker``, ``trigger realtime``, ``catalog rebuild`` and ``runs``.

Thin edges over :mod:`sitesnap.runtime`: each opens the site's catalog,
calls one runtime function and renders what it returns.
"""

from __future__ import annotations

import signal
from typing import Any

import click

from sitesnap.cli.context import AppContext, open_site_catalog, pass_app

# The scheduled job names of sitesnap.config (kept here so that starting the CLI
# does not load the config models; tests/test_docs.py checks they agree).
JOBS = ("incremental", "full", "prune", "check", "drill")

__all__ = ["COMMANDS"]


def _show_run(app: AppContext, result: Any) -> None:
    out = app.output
    if out.json_mode:
        out.json_line({"message_type": "summary", **result.to_dict()})
    else:
        snap = result.result.get("short_id")
        what = f" snapshot {snap}" if snap else ""
        out.always(f"run {result.run_id[:8]} ({result.kind}) {result.status}{what}")
    result.raise_for_error()


@click.command()
@click.option("--once", "once", type=click.Choice(JOBS), metavar="JOB",
              help=f"Run one scheduled job now and exit ({', '.join(JOBS)}).")
@click.option("--grace", default="1h", show_default=True, metavar="DURATION",
              help="How late a missed job may still run (also on start after downtime).")
@click.option("--realtime-window", default=60.0, show_default=True, metavar="SECONDS",
              help="Quiet period after the last realtime trigger before its backup runs.")
@pass_app
def scheduler(app: AppContext, once: str | None, grace: str, realtime_window: float) -> None:
    """Run the site's [schedule] until stopped (Ctrl-C or SIGTERM).

    Embedded by default: jobs run in this process, and so do the backups
    that 'sitesnap backup' hands it while it runs (through a socket in the
    state directory).  With [runtime] broker set, jobs are only enqueued for
    'sitesnap worker' processes.  Only one scheduler may run per site: a
    second one exits with an error.
    """
    from sitesnap.config import parse_duration
    from sitesnap.runtime.handoff import file_digest
    from sitesnap.runtime.scheduler import SiteScheduler, job_request

    # Digest first, then load: an edit in between makes CLI backups run in-process, never with a stale config.
    config_file = app.config_file()
    digest = file_digest(config_file) if config_file else None
    cfg = app.site(required=True)
    out = app.output
    with open_site_catalog(cfg) as catalog:
        if once is not None:
            kind, params = job_request(once, cfg.schedule)
            if cfg.runtime.broker:
                from sitesnap.runtime.celery_app import enqueue_job

                run_id = enqueue_job(cfg, kind, params, catalog=catalog, triggered_by="cli")
                if out.json_mode:
                    out.json({"message_type": "queued", "run_id": run_id, "job": once, "kind": kind})
                else:
                    out.always(f"queued run {run_id} ({once})")
                return
            from sitesnap.runtime.jobs import run_job

            repo_cfg = app.site_repository(cfg)
            with out.progress(once) as sink:
                result = run_job(kind, cfg, {**params, "repository": repo_cfg.name}, catalog=catalog,
                                 triggered_by="cli", sink=sink, password=app.job_password(repo_cfg))
            _show_run(app, result)
            return
        sched = SiteScheduler(cfg, catalog, grace=parse_duration(grace), realtime_window=realtime_window,
                              config_digest=digest)
        missed = sched.start()
        previous = {sig: signal.signal(sig, lambda *_: sched.shutdown(wait=False))
                    for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            mode = "enqueueing to workers" if cfg.runtime.broker else "embedded"
            if out.json_mode:
                out.json_line({"message_type": "started", "site": cfg.site.name, "mode": mode, "missed": missed,
                               "next": {k: v.isoformat() if v else None for k, v in sched.next_fire_times().items()}})
            else:
                out.always(f"scheduler for site {cfg.site.name} started ({mode})")
                for job, when in sorted(sched.next_fire_times().items()):
                    out.always(f"  {job:<14} next {when:%Y-%m-%d %H:%M %Z}" if when else f"  {job}")
                for job in missed:
                    out.always(f"  {job} was missed while stopped: running it now")
            while not sched.wait(1.0):
                pass
        finally:
            sched.shutdown()
            for sig, handler in previous.items():
                signal.signal(sig, handler)


@click.command()
@click.option("--concurrency", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Tasks at once in this worker (more than 1 runs them in threads).")
@click.option("--name", default=None, help="Worker name (default: sitesnap-PID@HOST).")
@click.option("--loglevel", default="INFO", show_default=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False))
@pass_app
def worker(app: AppContext, concurrency: int, name: str | None, loglevel: str) -> None:
    """Run a Celery worker for the site's [runtime] broker (Redis) until stopped."""
    from sitesnap.runtime.celery_app import run_worker

    cfg = app.site(required=True)
    run_worker(cfg, concurrency=concurrency, name=name, loglevel=loglevel.upper())


@click.group()
def trigger() -> None:
    """Ask for a backup now (debounced)."""


@trigger.command(name="realtime")
@click.option("--reason", default="", help="Why (kept with the backup's run).")
@click.option("--wait", "wait", is_flag=True, help="Wait out the quiet period and run the backup here.")
@click.option("--window", default=60.0, show_default=True, metavar="SECONDS",
              help="With --wait: quiet period after the last trigger.")
@pass_app
def trigger_realtime(app: AppContext, reason: str, wait: bool, window: float) -> None:
    """Record a realtime trigger: a burst of them makes one 'realtime' snapshot.

    The running scheduler picks it up after the quiet period; without one,
    use --wait.
    """
    from sitesnap.runtime import realtime

    cfg = app.site(required=True)
    out = app.output
    batch = realtime.trigger(cfg, reason)
    if not wait:
        if out.json_mode:
            out.json({"message_type": "triggered", **batch.to_dict()})
        else:
            out.always(f"realtime backup requested ({batch.count} trigger(s) pending)")
        return
    with open_site_catalog(cfg) as catalog, out.progress("backup") as sink:
        result = realtime.wait_and_run(cfg, catalog, window=window, sink=sink)
    if result is None:
        if out.json_mode:
            out.json({"message_type": "claimed_elsewhere"})
        else:
            out.always("another process took the pending triggers")
        return
    _show_run(app, result)


@click.group(name="catalog")
def catalog_group() -> None:
    """The catalog database (a cache of the repositories)."""


@catalog_group.command(name="rebuild")
@click.option("--repository", default=None, help="Repository name (default: the primary).")
@pass_app
def catalog_rebuild(app: AppContext, repository: str | None) -> None:
    """Recreate the site's backup records from the repository's snapshots."""
    from sitesnap.runtime.jobs import rebuild_catalog

    cfg = app.site(required=True)
    with open_site_catalog(cfg) as catalog:
        repo_cfg = app.site_repository(cfg, repository)
        report = rebuild_catalog(cfg, catalog, repository=repo_cfg.name, password=app.job_password(repo_cfg))
    out = app.output
    if out.json_mode:
        out.json({"message_type": "summary", **report.to_dict()})
        return
    out.always(f"{len(report.written)} record(s) written, {len(report.removed)} removed "
               f"from repository {report.repository}")
    for sid in report.damaged:
        out.warn(f"snapshot {sid[:8]} is damaged and was skipped")


@click.command()
@click.option("--kind", default=None, help="Only runs of this kind.")
@click.option("--status", default=None, help="Only runs in this status.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 500))
@pass_app
def runs(app: AppContext, kind: str | None, status: str | None, limit: int) -> None:
    """List the site's recorded runs, newest first (abandoned ones are closed as failed)."""
    from sitesnap.runtime.jobs import reap_stale_runs

    cfg = app.site(required=True)
    with open_site_catalog(cfg) as catalog:
        reap_stale_runs(catalog, site=cfg.site.name)
        page = catalog.list_runs(site=cfg.site.name, kind=kind, status=status, per_page=limit)
    out = app.output
    if out.json_mode:
        out.json({"total": page.total, "runs": [r.to_dict() for r in page.items]})
        return
    if not page.items:
        out.always("no runs recorded")
        return
    for r in page.items:
        took = f"{(r.finished_at - r.started_at).total_seconds():.1f}s" if r.finished_at and r.started_at else ""
        error = f"  {r.error_code}: {r.error_message}" if r.error_message else ""
        out.always(f"{r.id[:8]}  {r.created_at.astimezone():%Y-%m-%d %H:%M:%S}  {r.kind:<8} {r.status:<10} "
                   f"{r.triggered_by:<9} {took:>7}{error}")


COMMANDS = [scheduler, worker, trigger, catalog_group, runs]
