"""The job context and the kinds that back up, restore and check (registered in :mod:`.registry`).

Each job function takes a :class:`JobContext` and returns the run's result as
JSON-ready data; it raises :class:`~sitesnap.errors.SitesnapError` to fail.
It calls exactly one engine use case (plus the catalog record of what it
made) and nothing else: recording, locking and progress belong to the runner
(:mod:`.runner`), so every kind gets them the same way.  ``ctx.result`` may be
filled as the job goes, so a failing job still leaves what it found (a check
names the damage) in the run row.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sitesnap.catalog import Catalog
from sitesnap.config import RepositoryConfig, SiteConfig
from sitesnap.engine.opening import PasswordSource
from sitesnap.errors import IntegrityError, UsageError
from sitesnap.progress import ProgressSink
from sitesnap.repository.repository import Repository
from sitesnap.runtime.jobs.records import record_fields

__all__ = ["BACKUP_SNAPSHOT_TYPES", "JobContext", "JobFunction", "available", "backup_job", "check_job",
           "open_site_repository", "parse_time", "password_sources", "repository_password", "restore_job"]

BACKUP_SNAPSHOT_TYPES = ("incremental", "full", "snapshot", "realtime")


@dataclass
class JobContext:
    """Everything a job function may use; built by the runner for one run."""

    cfg: SiteConfig
    repo_cfg: RepositoryConfig
    params: Mapping[str, Any]
    catalog: Catalog
    run_id: str
    sink: ProgressSink
    log: Callable[[str], None]
    password: str | None = None
    result: dict[str, Any] = field(default_factory=dict)

    def repository_password(self) -> str:
        return repository_password(self.repo_cfg, self.password)

    @contextmanager
    def repository(self) -> Iterator[Repository]:
        """The run's repository, opened, and closed afterwards; the catalog is reconciled with it at the end."""
        with open_site_repository(self.repo_cfg, self.password) as repo:
            yield repo
            self.reconcile(repo)

    def reconcile(self, repo: Repository) -> None:
        """Bring the records in step with the site's primary repository (see :mod:`.reconcile`); never raises."""
        if self.repo_cfg.name != self.cfg.primary.name:
            return
        from sitesnap.runtime.jobs.reconcile import reconcile_records

        try:
            done = reconcile_records(self.catalog, self.cfg, self.repo_cfg, repo)
        except Exception as exc:
            self.log(f"warning: catalog not reconciled with the repository: {exc}")
            return
        if done.changed:
            self.log(f"catalog reconciled with the repository: {len(done.added)} record(s) added, "
                     f"{len(done.removed)} removed")

    def param_list(self, name: str) -> list[str] | None:
        value = self.params.get(name)
        if value in (None, "", []):
            return None
        if isinstance(value, str):
            return [value]
        return [str(v) for v in value]

    def record(self, repo: Repository, snapshot_id: str, *, run_id: str | None) -> None:
        """Create or refresh the catalog's record of a snapshot just written."""
        snap = repo.load_snapshot(snapshot_id)
        stats = repo.stats
        fields = record_fields(snap, repository=self.repo_cfg.name, location=self.repo_cfg.url, run_id=run_id,
                               stored_plain=stats.bytes_new_plain, stored_bytes=stats.bytes_new_stored)
        self.catalog.upsert_backup_record(snap.id, **fields)


JobFunction = Callable[[JobContext], dict[str, Any]]


def password_sources(password: str | None = None) -> list[PasswordSource]:
    """What a job falls back on for a repository without its own password: ``password``, then the environment."""
    from sitesnap.engine.opening import environment_passwords, given_password

    return [given_password(password), *environment_passwords()]


def repository_password(repo_cfg: RepositoryConfig, password: str | None = None) -> str:
    """The repository's configured password, else ``password``, else SITESNAP_PASSWORD_FILE / SITESNAP_PASSWORD."""
    from sitesnap.engine.opening import choose_password, target_of

    return choose_password(target_of(repo_cfg), password_sources(password))


@contextmanager
def open_site_repository(repo_cfg: RepositoryConfig, password: str | None = None) -> Iterator[Repository]:
    """A configured repository, opened (see :func:`repository_password`), closed at the end of the block."""
    from sitesnap.engine.opening import open_target, target_of

    repo = open_target(target_of(repo_cfg), password_sources(password))
    try:
        yield repo
    finally:
        repo.close()


def parse_time(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    try:
        when = datetime.fromisoformat(str(value))
    except ValueError:
        raise UsageError(f"time: cannot read {value!r}; use ISO 8601 with an offset") from None
    if when.tzinfo is None:
        raise UsageError(f"time {value!r} needs a UTC offset")
    return when


def _seconds(value: Any) -> float | None:
    """A number of seconds from a job parameter (None when not given)."""
    return None if value is None else float(value)


def backup_job(ctx: JobContext) -> dict[str, Any]:
    """Params: ``type`` (incremental|full|snapshot|realtime), ``tags``, ``sources``, ``time``, ``checkpoint_interval``.

    A ``full`` backup re-reads everything and then checks the repository's
    structure.  The catalog record is written before the run is closed.
    """
    from sitesnap.engine.site import backup_site
    from sitesnap.repository.check import check_repository

    snapshot_type = str(ctx.params.get("type", "incremental"))
    if snapshot_type not in BACKUP_SNAPSHOT_TYPES:
        raise UsageError(f"unknown backup type {snapshot_type!r}",
                         hint=f"Use one of: {', '.join(BACKUP_SNAPSHOT_TYPES)}.")
    if ctx.params.get("reasons"):
        ctx.log(f"triggered by: {'; '.join(str(r) for r in ctx.params['reasons'])}")
    with ctx.repository() as repo:
        result = backup_site(repo, ctx.cfg, snapshot_type=snapshot_type, tags=ctx.param_list("tags"),
                             sources=ctx.param_list("sources"), sink=ctx.sink, now=parse_time(ctx.params.get("time")),
                             checkpoint_interval=_seconds(ctx.params.get("checkpoint_interval")))
        ctx.result.update(result.to_json())
        unread = [w.path for w in result.archive.warnings if w.message.startswith("cannot ")]
        if unread:  # saved without them: the run says so, for status and alerts
            ctx.result["incomplete"] = unread
        for warning in result.archive.warnings:
            ctx.log(f"warning: {warning.path}: {warning.message}")
        ctx.log(f"snapshot {result.snapshot.short_id} ({snapshot_type}) saved in {result.duration:.2f}s")
        ctx.record(repo, result.snapshot.id, run_id=ctx.run_id)
        if ctx.params.get("copy", True) and available("sitesnap.engine.copy"):
            _copy_after(ctx, repo, result.snapshot.id)
        if snapshot_type == "full":
            with repo.lock(operation="check after full backup"):
                report = check_repository(repo, sink=ctx.sink)
            ctx.result["check"] = report.to_json()
            if not report.ok:
                raise IntegrityError(f"check after the full backup found {len(report.errors)} problem(s); "
                                     f"first: {report.errors[0]}")
    return ctx.result


def _copy_after(ctx: JobContext, repo: Repository, snapshot_id: str) -> None:
    """Copy to the repositories marked ``copy_after_backup``; their results go into the record."""
    from sitesnap.engine.copy import copy_after_backup

    if not any(r.copy_after_backup and r.name != ctx.repo_cfg.name for r in ctx.cfg.repositories):
        return
    outcomes = copy_after_backup(repo, ctx.cfg, snapshot_id, source_url=ctx.repo_cfg.url,
                                 passwords=[*password_sources(ctx.password), ctx.repository_password], sink=ctx.sink)
    ctx.result["copies"] = [o.to_json() for o in outcomes]
    providers = {o.repository: {"ok": o.status == "ok", "error": o.error or None, "bytes_sent": o.bytes_sent,
                                "reason": "copy"} for o in outcomes}
    ctx.catalog.upsert_backup_record(snapshot_id, storage_providers=providers)
    for o in outcomes:
        ctx.log(f"copy to {o.repository}: {o.status}{' - ' + o.error if o.error else ''}")


def restore_job(ctx: JobContext) -> dict[str, Any]:
    """Params: ``snapshot`` (ID or latest), ``at``, ``sources``, ``targets`` {source: target}, ``safety``.

    Confirmation of overwrites is the caller's business (the CLI asks, the
    console shows the plan first); the job runs the plan it is given.
    """
    from sitesnap.engine.site import plan_restore

    targets = ctx.params.get("targets") or {}
    if not isinstance(targets, Mapping):
        raise UsageError("restore targets must map source names to targets")
    with ctx.repository() as repo:
        repo.load_index()
        plan = plan_restore(repo, ctx.cfg, ctx.params.get("snapshot"), ctx.params.get("at"),
                            ctx.param_list("sources"), dict(targets))
        ctx.result.update(plan.to_json())
        plan.execute(safety=bool(ctx.params.get("safety", True)), sink=ctx.sink, on_step=ctx.log)
        if plan.safety_snapshot:
            ctx.record(repo, plan.safety_snapshot, run_id=None)
        ctx.result.update(plan.to_json())
    return ctx.result


def check_job(ctx: JobContext) -> dict[str, Any]:
    """Params: ``read_data`` (bool), ``subset`` (fraction in (0, 1] or "10%")."""
    from sitesnap.repository.check import check_repository, parse_subset

    subset = ctx.params.get("subset")
    fraction = parse_subset(subset) if isinstance(subset, str) else (float(subset) if subset else None)
    if fraction is not None and fraction >= 1:
        fraction = None
    read_data = bool(ctx.params.get("read_data")) or fraction is not None
    with ctx.repository() as repo, repo.lock(operation="check"):
        report = check_repository(repo, read_data=read_data, subset=fraction, sink=ctx.sink)
    ctx.result.update(report.to_json())
    for warning in report.warnings:
        ctx.log(f"warning: {warning}")
    if not report.ok:
        for error in report.errors:
            ctx.log(f"error: {error}")
        raise IntegrityError(f"{len(report.errors)} problem(s) found; first: {report.errors[0]}")
    return ctx.result


def available(module: str) -> bool:
    """True when ``module`` is installed (a job kind needing it can run)."""
    return importlib.util.find_spec(module) is not None
