"""``repair index`` and ``repair snapshots``: mend a damaged repository."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from sitesnap.cli.context import AppContext, pass_app

if TYPE_CHECKING:
    pass


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


COMMANDS = [repair]
