"""Job kinds that maintain repositories: forget (retention), prune (unused data) and copy.

They call the engine's use cases (:mod:`sitesnap.engine.forget`,
:mod:`sitesnap.repository.prune`, :mod:`sitesnap.engine.copy`) and keep the
catalog in step: records of forgotten snapshots are deleted, copies add their
repository's result to the record's ``storage_providers``.
"""

from __future__ import annotations

from typing import Any

from sitesnap.errors import UsageError
from sitesnap.runtime.jobs.kinds import JobContext, parse_time

__all__ = ["copy_job", "forget_job", "prune_job"]


def _prune_options(ctx: JobContext) -> Any:
    from sitesnap.config import parse_size
    from sitesnap.repository.prune import PruneOptions

    max_repack = ctx.params.get("max_repack")
    if isinstance(max_repack, str):
        max_repack = parse_size(max_repack)
    max_unused = ctx.params.get("max_unused")
    return PruneOptions(max_unused=float(max_unused) if max_unused is not None else PruneOptions.max_unused,
                        max_repack=int(max_repack) if max_repack is not None else None)


def forget_job(ctx: JobContext) -> dict[str, Any]:
    """Params: ``dry_run``, ``prune`` (then prune unused data), ``time`` (the policy's now), prune limits.

    Applies the site's ``[retention]`` to the site's snapshots under an
    exclusive repository lock; the scheduled ``prune`` job runs this with
    ``prune = true``.
    """
    from sitesnap.engine.forget import forget_snapshots, policy_from_config

    dry_run = bool(ctx.params.get("dry_run"))
    policy = policy_from_config(ctx.cfg.retention, ctx.cfg.site.timezone)
    with ctx.repository() as repo:
        plan = forget_snapshots(repo, policy=policy, site=ctx.cfg.site.name, now=parse_time(ctx.params.get("time")),
                                dry_run=dry_run)
        for sid in plan.removed:
            ctx.catalog.delete_backup_record(sid)
        ctx.result["forget"] = plan.to_json()
        ctx.log(f"forget: kept {len(plan.keep)}, {'would forget' if dry_run else 'forgot'} {len(plan.forget)}")
        if ctx.params.get("prune") and not dry_run:
            _prune(ctx, repo)
    return ctx.result


def _prune(ctx: JobContext, repo: Any) -> None:
    from sitesnap.repository.prune import prune

    plan = prune(repo, _prune_options(ctx), dry_run=bool(ctx.params.get("dry_run")), sink=ctx.sink)
    ctx.result["prune"] = plan.to_json()
    ctx.log(f"prune: {len(plan.delete)} pack(s) deleted, {len(plan.repack)} repacked")


def prune_job(ctx: JobContext) -> dict[str, Any]:
    """Params: ``dry_run``, ``max_unused`` (fraction), ``max_repack`` (bytes or "1GiB")."""
    with ctx.repository() as repo:
        _prune(ctx, repo)
    return ctx.result


def copy_job(ctx: JobContext) -> dict[str, Any]:
    """Params: ``to`` (repository names; default: every other one), ``snapshots`` (refs; default: all)."""
    from sitesnap.engine.copy import copy_snapshots

    names = ctx.param_list("to") or [r.name for r in ctx.cfg.repositories if r.name != ctx.repo_cfg.name]
    if not names:
        raise UsageError("nothing to copy to: the site has one repository")
    copies: dict[str, Any] = {}
    with ctx.repository() as src:
        for name in names:
            dst_ctx = JobContext(ctx.cfg, ctx.cfg.repository(name), ctx.params, ctx.catalog, ctx.run_id, ctx.sink,
                                 ctx.log, None)
            with dst_ctx.repository() as dst:
                result = copy_snapshots(src, dst, ctx.param_list("snapshots"), sink=ctx.sink)
            copies[name] = result.to_json()
            for original in result.copied:
                if ctx.catalog.get_backup_record(original) is not None:
                    ctx.catalog.upsert_backup_record(original, storage_providers={name: {
                        "ok": True, "error": None, "bytes_sent": result.bytes_sent, "reason": "copy"}})
            ctx.log(f"copy to {name}: {len(result.copied)} copied, {len(result.skipped)} already there")
    ctx.result["copies"] = copies
    return ctx.result

