"""Repository sizes recorded by the jobs that touched the repositories.

``status``, the console and ``/metrics`` must not list cloud storage (a
frozen endpoint would hold them for the storage deadline); the jobs that
just used a network repository list it instead, once, at their end, and keep the
figure in their run's result under ``repository_sizes``, where
:func:`sitesnap.runtime.facts.stored_measure` finds it.  A listing that
fails only costs the figure, never the job.
"""

from __future__ import annotations

from typing import Any

from sitesnap.runtime.facts import SIZES_KEY, Measure, measure_repository
from sitesnap.runtime.jobs.kinds import JobContext

__all__ = ["SIZED_KINDS", "with_sizes"]

SIZED_KINDS = frozenset({"backup", "copy", "check", "forget", "prune"})
"""Kinds whose runs record the size of every repository they used."""


def _touched(ctx: JobContext, result: dict[str, Any]) -> list[str]:
    """The run's repository and the copies' destinations (a copy job's ``{name: result}`` or a
    backup's list of outcomes with ``repository``), configured ones only."""
    copies = result.get("copies") or {}
    named = copies if isinstance(copies, dict) else [c.get("repository") for c in copies if isinstance(c, dict)]
    known = {r.name for r in ctx.cfg.repositories}
    names = [ctx.repo_cfg.name]
    names += [str(n) for n in named if str(n) in known and str(n) != ctx.repo_cfg.name]
    return names


def with_sizes(kind: str, ctx: JobContext, result: dict[str, Any],
               measure: Measure = measure_repository) -> dict[str, Any]:
    """``result`` plus ``repository_sizes`` for each repository the run used (kinds in :data:`SIZED_KINDS`)."""
    if kind not in SIZED_KINDS:
        return result
    sizes = {}
    for name in _touched(ctx, result):
        repo_cfg = ctx.cfg.repository(name)
        if repo_cfg.local_path is not None:  # listed live by status and metrics: nothing to keep
            continue
        figure = measure(repo_cfg)
        if figure is not None:
            sizes[name] = figure.to_json()
    return {**result, SIZES_KEY: sizes} if sizes else result
