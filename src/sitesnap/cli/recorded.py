"""Repository-changing commands run as recorded jobs when a site config is in use.

With ``-c``, ``forget`` and ``prune`` show in the catalog's runs and audit
log like the same operations started by the scheduler or the console, and
the catalog's records are reconciled with the repository afterwards
(:meth:`sitesnap.runtime.jobs.JobContext.repository`).  Without a site
config there is no catalog: the work runs on the repository directly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sitesnap.cli.context import AppContext, open_site_catalog
from sitesnap.progress import ProgressSink

__all__ = ["in_repository"]

T = TypeVar("T")
Work = Callable[[Any, ProgressSink], T]
"""``work(repository, progress sink)``: the command's engine call; its value is handed back."""


def in_repository(app: AppContext, kind: str, params: dict[str, Any], work: Work[T], *,
                  record: bool = True, progress: str | None = None) -> T:
    """Run ``work`` on the repository in use: as a recorded ``kind`` run with a site config, else directly.

    ``record=False`` (a dry run) never records.  Errors propagate as the
    command's own: a failed recorded run re-raises its error.
    """
    out = app.output
    cfg = app.site()
    repo_cfg = app.repository_config() if cfg is not None else None
    if not record or cfg is None or repo_cfg is None:
        with app.open_repo() as repo, out.progress(progress or kind) as sink:
            return work(repo, sink)
    from sitesnap.runtime.jobs import JobContext, run_job

    password = app.job_password(repo_cfg)
    holder: list[T] = []

    def job(ctx: JobContext) -> dict[str, Any]:
        with ctx.repository() as repo:
            value = work(repo, ctx.sink)
            holder.append(value)
            to_json = getattr(value, "to_json", None)
            if callable(to_json):
                ctx.result[kind] = to_json()
        return ctx.result

    with open_site_catalog(cfg) as catalog, out.progress(progress or kind) as sink:
        run = run_job(kind, cfg, {**params, "repository": repo_cfg.name}, catalog=catalog, triggered_by="cli",
                      sink=sink, password=password, function=job)
    run.raise_for_error()
    return holder[0]
