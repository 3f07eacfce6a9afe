"""``scheduler``: run the site's [schedule]; ``--once JOB`` runs one job now."""

from __future__ import annotations

import signal
from typing import TYPE_CHECKING, Any

import click

from sitesnap.cli.context import AppContext, open_site_catalog, pass_app

if TYPE_CHECKING:
    _Param = click.ParamType[str, Any]
else:  # click before 8.2 has no generic ParamType
    _Param = click.ParamType


class ScheduledJob(_Param):
    """A ``[schedule]`` job name, checked against :data:`sitesnap.config.JOBS` (the one list of them)
    only when given, so starting the CLI does not load the configuration models."""

    name = "job"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from sitesnap.config import JOBS

        if value in JOBS:
            return str(value)
        self.fail(f"{value!r} is not a scheduled job; use one of: {', '.join(JOBS)}", param, ctx)



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
@click.option("--once", "once", type=ScheduledJob(), metavar="JOB",
              help="Run one [schedule] job (by its name, e.g. incremental) now and exit.")
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
    from sitesnap.runtime.scheduler import SiteScheduler

    # Digest first, then load: an edit in between makes CLI backups run in-process, never with a stale config.
    config_file = app.config_file()
    digest = file_digest(config_file) if config_file else None
    cfg = app.site(required=True)
    with open_site_catalog(cfg) as catalog:
        if once is not None:
            _run_once(app, cfg, catalog, once)
            return
        sched = SiteScheduler(cfg, catalog, grace=parse_duration(grace), realtime_window=realtime_window,
                              config_digest=digest)
        missed = sched.start()
        previous = {sig: signal.signal(sig, lambda *_: sched.shutdown(wait=False))
                    for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            _show_started(app, cfg, sched, missed)
            while not sched.wait(1.0):
                pass
        finally:
            sched.shutdown()
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _run_once(app: AppContext, cfg: Any, catalog: Any, once: str) -> None:
    """``--once JOB``: enqueue it for the workers (with a broker) or run it here, on -r's repository."""
    from sitesnap.runtime.scheduler import job_request

    out = app.output
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


def _show_started(app: AppContext, cfg: Any, sched: Any, missed: list[str]) -> None:
    out = app.output
    mode = "enqueueing to workers" if cfg.runtime.broker else "embedded"
    if out.json_mode:
        out.json_line({"message_type": "started", "site": cfg.site.name, "mode": mode, "missed": missed,
                       "next": {k: v.isoformat() if v else None for k, v in sched.next_fire_times().items()}})
        return
    out.always(f"scheduler for site {cfg.site.name} started ({mode})")
    for job, when in sorted(sched.next_fire_times().items()):
        out.always(f"  {job:<14} next {when:%Y-%m-%d %H:%M %Z}" if when else f"  {job}")
    for job in missed:
        out.always(f"  {job} was missed while stopped: running it now")

COMMANDS = [scheduler]
