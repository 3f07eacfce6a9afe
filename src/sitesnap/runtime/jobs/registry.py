"""The one list of job kinds: what each is called, runs, needs and how the runner treats it.

A kind is one :class:`JobKind` entry in :data:`KINDS`; the runner, the
scheduler, Celery and the edges look kinds up here and nowhere else.
Adding a kind is its job function, one entry here, and its test.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from sitesnap.config import SiteConfig
from sitesnap.runtime.jobs.drill import drill_job
from sitesnap.runtime.jobs.kinds import JobFunction, available, backup_job, check_job, restore_job
from sitesnap.runtime.jobs.maintenance import copy_job, forget_job, prune_job

__all__ = ["KINDS", "LOCKED_KINDS", "JobKind", "job_kind", "job_kinds", "scheduled_targets"]


@dataclass(frozen=True)
class JobKind:
    """One kind of recorded run.

    ``locked``: it changes the repository or the site, so one at a time per
    (site, repository) on a machine.  ``placeholder``: it shows in the records
    list from its start (a backup).  ``alerts``: the site's alert rules are
    evaluated after it is recorded.  ``needs``: modules that must be
    installed for it to run.  ``exclusive``: it takes the repository's
    exclusive lock, so a continuous capture in the same process pauses
    while it runs.  ``every_repository``: a scheduled run of it
    covers each repository of the site, one recorded run per repository
    (check and retention must reach the copies too, not only the primary);
    ``writes``: it deletes, so append-only repositories are left to their own
    credentials.
    """

    name: str
    function: JobFunction
    locked: bool = False
    placeholder: bool = False
    alerts: bool = True
    needs: tuple[str, ...] = ()
    exclusive: bool = False
    every_repository: bool = False
    writes: bool = False

    @property
    def is_available(self) -> bool:
        return all(available(module) for module in self.needs)


KINDS: tuple[JobKind, ...] = (
    JobKind("backup", backup_job, locked=True, placeholder=True),
    JobKind("restore", restore_job, locked=True, alerts=False),
    JobKind("check", check_job, every_repository=True),
    JobKind("forget", forget_job, locked=True, exclusive=True, every_repository=True, writes=True,
            needs=("sitesnap.engine.forget", "sitesnap.repository.prune")),
    JobKind("prune", prune_job, locked=True, exclusive=True, every_repository=True, writes=True,
            needs=("sitesnap.engine.forget", "sitesnap.repository.prune")),
    JobKind("copy", copy_job, locked=True, needs=("sitesnap.engine.copy",)),
    JobKind("drill", drill_job, needs=("sitesnap.engine.drill",)),
)

LOCKED_KINDS = frozenset(k.name for k in KINDS if k.locked)


def job_kinds() -> Mapping[str, JobKind]:
    """The job kinds this installation can run, by name (read-only)."""
    return MappingProxyType({k.name: k for k in KINDS if k.is_available})


def scheduled_targets(cfg: SiteConfig, kind: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The parameters of each run a scheduled ``kind`` starts: one per repository it must cover.

    A kind marked ``every_repository`` runs on each repository of the site
    (append-only ones skipped for kinds that delete); any other kind, or
    parameters naming a repository, run once.
    """
    spec = next((k for k in KINDS if k.name == kind), None)
    if spec is None or not spec.every_repository or "repository" in params:
        return [dict(params)]
    repos = [r for r in cfg.repositories if not (spec.writes and r.append_only and r is not cfg.primary)]
    return [{**params, "repository": r.name} for r in repos] or [dict(params)]


def job_kind(name: str) -> JobKind | None:
    """The kind called ``name`` if this installation can run it."""
    return job_kinds().get(name)
