"""``forget``: drop snapshots by ID or by the retention policy (through ``engine.forget``)."""

from __future__ import annotations

from typing import Any

import click

from sitesnap.cli.commands.prune import prune_options, show_prune, with_prune_options
from sitesnap.cli.context import AppContext, pass_app
from sitesnap.cli.recorded import in_repository
from sitesnap.errors import UsageError


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
@with_prune_options
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
    options = prune_options(max_unused, max_repack) if then_prune else None

    def work(repo: Any, sink: Any) -> tuple[Any, Any]:
        result = forget_snapshots(repo, policy=policy, snapshot_refs=list(snapshot_ids) or None,
                                  site=cfg.site.name if cfg is not None else None, dry_run=dry_run)
        if options is None:
            return result, None
        from sitesnap.repository.prune import prune as run_prune

        return result, run_prune(repo, options, dry_run=dry_run, sink=sink)

    params = {"dry_run": dry_run, "snapshots": list(snapshot_ids), "prune": then_prune}
    result, pruned = in_repository(app, "forget", params, work, record=not dry_run)
    _show_forget(app, result)
    if pruned is not None:
        show_prune(app, pruned, dry_run)


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


COMMANDS = [forget]
