"""``forget``, ``prune``, ``copy`` and ``repair``: commands that change what a repository holds."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import click

from sitesnap.cli.context import AppContext, pass_app
from sitesnap.cli.output import human_bytes
from sitesnap.errors import UsageError

if TYPE_CHECKING:
    from sitesnap.engine.opening import PasswordSource, RepositoryTarget


def _percent(value: str) -> float:
    text = value.strip().lower()
    if text == "unlimited":
        return 1.0
    try:
        share = float(text.rstrip("%")) / 100
    except ValueError:
        raise UsageError(f"--max-unused: expected a percentage such as 5%, got {value!r}") from None
    if not 0 <= share <= 1:
        raise UsageError(f"--max-unused must be between 0% and 100%, got {value!r}")
    return share


def _size(value: str | None) -> int | None:
    if value is None:
        return None
    from sitesnap.config import parse_size

    try:
        return parse_size(value)
    except ValueError as exc:
        raise UsageError(f"--max-repack: {exc}") from None


def _prune_options(max_unused: str, max_repack: str | None) -> Any:
    from sitesnap.repository.prune import PruneOptions

    return PruneOptions(max_unused=_percent(max_unused), max_repack=_size(max_repack))


def _show_prune(app: AppContext, plan: Any, dry_run: bool) -> None:
    out = app.output
    if out.json_mode:
        out.json_line({"message_type": "prune", "dry_run": dry_run, **plan.to_json()})
        return
    out.always(f"{plan.snapshots} snapshot(s) use {human_bytes(plan.used_bytes)}; "
               f"{human_bytes(plan.unused_bytes)} unused in partly used packs")
    out.always(f"packs: {len(plan.keep)} kept, {len(plan.repack)} to repack ({human_bytes(plan.repack_bytes)}), "
               f"{len(plan.delete)} unused to delete, {len(plan.unindexed)} unindexed to delete, "
               f"{len(plan.missing)} missing to drop from the index")
    if plan.rewrite_index:
        out.always(f"index: {len(plan.old_index_ids)} file(s) to be replaced")
    if plan.empty:
        out.always("nothing to prune")
    elif dry_run:
        out.always(f"would free about {human_bytes(plan.bytes_to_free)} (dry run: nothing was changed)")
    elif plan.result is not None:
        r = plan.result
        out.always(f"wrote {r.packs_written} pack(s) and {r.index_written} index file(s); deleted "
                   f"{r.packs_deleted} pack(s) and {r.index_deleted} index file(s); freed {human_bytes(r.bytes_freed)}")


_PRUNE_OPTIONS = [
    click.option("--max-unused", default="5%", show_default=True, metavar="PERCENT",
                 help="Unused space to tolerate in partly used packs before repacking them ('unlimited': never)."),
    click.option("--max-repack", metavar="SIZE", help="Rewrite at most SIZE of packs (e.g. 2GiB), to bound S3 costs."),
]


def _with_prune_options(func: Any) -> Any:
    for option in reversed(_PRUNE_OPTIONS):
        func = option(func)
    return func


@click.command()
@click.option("-n", "--dry-run", is_flag=True, help="Show the plan; change nothing.")
@_with_prune_options
@pass_app
def prune(app: AppContext, dry_run: bool, max_unused: str, max_repack: str | None) -> None:
    """Remove data no snapshot uses (exclusive lock; refused on append-only repositories).

    Deletes unused packs, repacks partly used ones beyond --max-unused, and
    removes packs and index files left by crashed runs.  New packs and index
    are written before anything is deleted, so a crash never loses data.
    """
    from sitesnap.repository.prune import prune as run_prune

    options = _prune_options(max_unused, max_repack)
    with app.open_repo() as repo, app.output.progress("prune") as sink:
        plan = run_prune(repo, options, dry_run=dry_run, sink=sink)
    _show_prune(app, plan, dry_run)


@click.command()
@click.argument("snapshot_ids", nargs=-1)
@click.option("-n", "--dry-run", is_flag=True, help="Show what would be forgotten; change nothing.")
@click.option("--keep-last", type=int, help="Keep the newest N snapshots.")
@click.option("--keep-hourly", type=int, help="Keep the newest snapshot of each of the last N hours (-1: all).")
@click.option("--keep-daily", type=int, help="Keep one snapshot per day for the last N days with snapshots.")
@click.option("--keep-weekly", type=int, help="Keep one snapshot per ISO week, N weeks.")
@click.option("--keep-monthly", type=int, help="Keep one snapshot per month, N months.")
@click.option("--keep-yearly", type=int, help="Keep one snapshot per year, N years.")
@click.option("--keep-within", metavar="DURATION", help="Keep everything younger than DURATION (e.g. 30d).")
@click.option("--keep-tag", "keep_tags", multiple=True, metavar="TAGS",
              help="Keep snapshots with these tags (comma = all of them; repeatable).")
@click.option("--max-age", "max_ages", multiple=True, metavar="TYPE=DURATION",
              help="Age limit of a snapshot type: incremental=7d, manual=forever, all=off (only keep rules "
              "decide, as in restic). Repeatable.")
@click.option("--group-by", metavar="KEYS", help="Group snapshots by site,hostname,paths,tags (comma list).")
@click.option("--prune", "then_prune", is_flag=True, help="Run prune afterwards.")
@_with_prune_options
@pass_app
def forget(app: AppContext, snapshot_ids: tuple[str, ...], dry_run: bool, keep_last: int | None,
           keep_hourly: int | None, keep_daily: int | None, keep_weekly: int | None, keep_monthly: int | None,
           keep_yearly: int | None, keep_within: str | None, keep_tags: tuple[str, ...], max_ages: tuple[str, ...],
           group_by: str | None, then_prune: bool, max_unused: str, max_repack: str | None) -> None:
    """Forget SNAPSHOT_IDS, or the snapshots the retention policy does not keep.

    The policy is the site's [retention] table (with -c) or the defaults
    (full 90 days, incremental 30 days, realtime 7 days, manual 'snapshot'
    type forever); options replace single rules of it.  Only snapshot files
    are deleted; 'prune' (or --prune) frees the data.
    """
    from sitesnap.engine.forget import forget_snapshots, override_policy, parse_max_age, policy_from_config
    from sitesnap.engine.retention import parse_duration

    flags = [keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly, keep_yearly, keep_within]
    if snapshot_ids and (any(f is not None for f in flags) or keep_tags or max_ages):
        raise UsageError("give either snapshot IDs or keep rules, not both")
    cfg = app.site()
    base = policy_from_config(cfg.retention, cfg.site.timezone) if cfg is not None else None
    policy = override_policy(
        base, max_age=parse_max_age(list(max_ages)), keep_last=keep_last, keep_hourly=keep_hourly,
        keep_daily=keep_daily, keep_weekly=keep_weekly, keep_monthly=keep_monthly, keep_yearly=keep_yearly,
        keep_within=parse_duration(keep_within) if keep_within else None,
        keep_tags=tuple(keep_tags) or None, group_by=tuple(group_by.split(",")) if group_by else None,
    )
    out = app.output
    with app.open_repo() as repo:
        result = forget_snapshots(repo, policy=policy, snapshot_refs=list(snapshot_ids) or None,
                                  site=cfg.site.name if cfg is not None else None, dry_run=dry_run)
        _show_forget(app, result)
        if then_prune:
            from sitesnap.repository.prune import prune as run_prune

            with out.progress("prune") as sink:
                pruned = run_prune(repo, _prune_options(max_unused, max_repack), dry_run=dry_run, sink=sink)
            _show_prune(app, pruned, dry_run)


def _show_forget(app: AppContext, plan: Any) -> None:
    out = app.output
    if out.json_mode:
        out.json_line({"message_type": "forget", "dry_run": plan.dry_run, **plan.to_json()})
        return
    verb = "would remove" if plan.dry_run else "removed"
    if plan.retention is not None:
        for group in plan.retention.groups:
            key = ", ".join(f"{k}={v}" for k, v in group.key if v) or "all"
            out.always(f"snapshots of {key}:")
            for d in group.decisions:
                when = d.snapshot.time.astimezone().strftime("%Y-%m-%d %H:%M:%S")
                what = "keep   " if d.keep else "remove "
                out.always(f"  {what} {d.snapshot.id[:8]}  {when}  {d.snapshot.type:<12} {'; '.join(d.reasons)}")
    else:
        for sid in plan.forget:
            out.always(f"  remove  {sid[:8]}")
    out.always(f"{len(plan.keep)} snapshot(s) kept, {len(plan.forget)} {verb}")


def _passwords(app: AppContext, password_file: str | None, env: str) -> list[PasswordSource]:
    """The command's own password option and variable (``--from-password-file``, ...), then the usual."""
    from sitesnap.engine.opening import password_file as from_file

    return [from_file(password_file), lambda: os.environ.get(env), *app.password_sources()]


def _target(app: AppContext, spec: str | None) -> RepositoryTarget:
    """The repository a name or URL gives (``None``: the one in use)."""
    from sitesnap.engine.opening import target_of, url_target

    if spec is None:
        return app.target()
    cfg = app.site()
    if cfg is not None and any(r.name == spec for r in cfg.repositories):
        return target_of(cfg.repository(spec))
    if "://" not in spec and not os.path.isabs(spec) and not os.path.exists(spec):
        known = ", ".join(r.name for r in cfg.repositories) if cfg is not None else "none (no site config)"
        raise UsageError(f"{spec!r} is neither a configured repository ({known}) nor an existing path")
    return url_target(spec)


@click.command()
@click.argument("snapshot_ids", nargs=-1)
@click.option("--from", "from_spec", metavar="NAME|URL", help="Source repository (default: -r or the primary).")
@click.option("--to", "to_spec", required=True, metavar="NAME|URL", help="Destination repository.")
@click.option("--from-password-file", metavar="FILE", help="Source password.  [env: SITESNAP_FROM_PASSWORD]")
@click.option("--to-password-file", metavar="FILE", help="Destination password.  [env: SITESNAP_TO_PASSWORD]")
@pass_app
def copy(app: AppContext, snapshot_ids: tuple[str, ...], from_spec: str | None, to_spec: str,
         from_password_file: str | None, to_password_file: str | None) -> None:
    """Copy SNAPSHOT_IDS (default: all) to another repository, skipping those already there.

    Only missing data moves when the destination was created with
    'init --copy-chunker-params-from'; otherwise every copied blob is read
    and re-hashed with the destination's key.
    """
    from sitesnap.engine.copy import CopyOutcome, copy_snapshots, record_outcomes
    from sitesnap.engine.opening import open_target

    src_target, dst_target = _target(app, from_spec), _target(app, to_spec)
    src_name, dst_name = src_target.name, dst_target.name
    src = open_target(src_target, _passwords(app, from_password_file, "SITESNAP_FROM_PASSWORD"))
    try:
        dst = open_target(dst_target, _passwords(app, to_password_file, "SITESNAP_TO_PASSWORD"))
        try:
            with app.output.progress("copy") as sink:
                result = copy_snapshots(src, dst, list(snapshot_ids) or None, sink=sink)
        finally:
            dst.close()
    finally:
        src.close()
    cfg = app.site()
    if cfg is not None and to_spec in {r.name for r in cfg.repositories}:
        record_outcomes(cfg.runtime.state_dir, [
            CopyOutcome(dst_name, sid, "ok", copied_snapshot=new, bytes_sent=result.bytes_sent, source=src_name,
                        site=cfg.site.name)
            for sid, new in {**result.skipped, **result.copied}.items()
        ])
    out = app.output
    if out.json_mode:
        out.json_line({"message_type": "summary", "from": src_name, "to": dst_name, **result.to_json()})
        return
    for sid, new in result.copied.items():
        out.always(f"copied snapshot {sid[:8]} -> {new[:8]}")
    mode = "translated IDs (independent keys)" if result.translated else "same blob IDs"
    out.always(f"{len(result.copied)} snapshot(s) copied, {len(result.skipped)} already present; "
               f"{result.blobs_copied} blobs, {human_bytes(result.bytes_sent)} sent; {mode}")


def show_copy_outcomes(app: AppContext, outcomes: list[Any]) -> None:
    """Print the per-repository results of the copy after a site backup (warnings for errors)."""
    out = app.output
    for o in outcomes:
        if out.json_mode:
            out.json_line({"message_type": "copy", **o.to_json()})
        elif o.status == "ok":
            out.always(f"copied to {o.repository}: ok, {human_bytes(o.bytes_sent)} sent")
        if o.status != "ok":
            out.warn(f"copy to {o.repository} failed: {o.error}")


@click.group()
def repair() -> None:
    """Repair a damaged repository: rebuild the index, remove broken snapshots."""


@repair.command(name="index")
@pass_app
def repair_index_cmd(app: AppContext) -> None:
    """Rebuild the index from the pack headers (exclusive lock)."""
    from sitesnap.repository.prune import ensure_deletable
    from sitesnap.repository.repair import repair_index

    out = app.output
    with app.open_repo() as repo:
        ensure_deletable(repo, "repair index")
        with repo.lock(exclusive=True, operation="repair index"), out.progress("repair") as sink:
            report = repair_index(repo, sink=sink)
    if out.json_mode:
        out.json_line({"message_type": "summary", **report.to_json()})
        return
    for index_id in report.damaged_index:
        out.always(f"damaged index {index_id[:16]} replaced")
    for pack, reason in report.unreadable_packs.items():
        out.warn(f"pack {pack[:16]}: header unreadable, not indexed ({reason})")
    out.always(f"indexed {report.blobs_indexed} blobs in {report.packs_indexed} packs; wrote "
               f"{report.index_written} index file(s), removed {report.index_removed}")


@repair.command(name="snapshots")
@click.option("--forget", "do_forget", is_flag=True, help="Remove the damaged snapshots and the damaged data.")
@click.option("--no-read-data", is_flag=True, help="Check only that data is indexed, without reading packs.")
@pass_app
def repair_snapshots_cmd(app: AppContext, do_forget: bool, no_read_data: bool) -> None:
    """Find snapshots that cannot be restored completely; with --forget remove them.

    --forget also rewrites the damaged packs (keeping what intact snapshots
    use), so 'check --read-data' passes afterwards.
    """
    from sitesnap.repository.prune import ensure_deletable
    from sitesnap.repository.repair import plan_repair_snapshots

    out = app.output
    with app.open_repo() as repo:
        if do_forget:
            ensure_deletable(repo, "repair snapshots --forget")
        with repo.lock(exclusive=do_forget, operation="repair snapshots"), out.progress("repair") as sink:
            plan = plan_repair_snapshots(repo, read_data=not no_read_data, sink=sink)
            if do_forget and (plan.damaged or plan.damaged_packs or plan.damaged_index):
                plan.execute(sink=sink)
    if out.json_mode:
        out.json_line({"message_type": "summary", **plan.to_json()})
        return
    for d in plan.damaged:
        state = "removed" if d.id in plan.removed else "damaged"
        out.always(f"{state} snapshot {d.id[:8]} {d.time[:19]}: {d.reason}")
    if plan.prune_result is not None:
        out.always(f"rewrote {len(plan.damaged_packs)} damaged pack(s)")
    out.always(f"{len(plan.intact)} snapshot(s) intact, {len(plan.damaged)} damaged")
    if plan.damaged and not do_forget:
        out.always("run 'sitesnap repair snapshots --forget' to remove them")


def init_like(app: AppContext, spec: str, password_file: str | None, url: str, kdf: dict[str, Any]) -> Any:
    """``init --copy-chunker-params-from SPEC``: a new repository at ``url`` sharing SPEC's blob IDs."""
    from sitesnap.engine.copy import init_with_params_of
    from sitesnap.engine.opening import open_target

    src = open_target(_target(app, spec), _passwords(app, password_file, "SITESNAP_FROM_PASSWORD"))
    try:
        password = app.password(confirm=True, prompt="New repository password")
        return init_with_params_of(src, url, password, app.storage_options(), kdf=kdf)
    finally:
        src.close()


COMMANDS = [forget, prune, copy, repair]
