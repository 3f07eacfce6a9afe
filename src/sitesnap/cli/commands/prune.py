"""``prune``: remove data no snapshot uses; its options are shared with ``forget --prune``."""

from __future__ import annotations

from typing import Any

import click

from sitesnap.cli.context import AppContext, pass_app
from sitesnap.cli.output import human_bytes
from sitesnap.cli.recorded import in_repository
from sitesnap.errors import UsageError


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


def prune_options(max_unused: str, max_repack: str | None) -> Any:
    from sitesnap.repository.prune import PruneOptions

    return PruneOptions(max_unused=_percent(max_unused), max_repack=_size(max_repack))


def show_prune(app: AppContext, plan: Any, dry_run: bool) -> None:
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


def with_prune_options(func: Any) -> Any:
    for option in reversed(_PRUNE_OPTIONS):
        func = option(func)
    return func


@click.command()
@click.option("-n", "--dry-run", is_flag=True, help="Show the plan; change nothing.")
@with_prune_options
@pass_app
def prune(app: AppContext, dry_run: bool, max_unused: str, max_repack: str | None) -> None:
    """Remove data no snapshot uses (exclusive lock; refused on append-only repositories).

    Deletes unused packs, repacks partly used ones beyond --max-unused, and
    removes packs and index files left by crashed runs.  New packs and index
    are written before anything is deleted, so a crash never loses data.
    """
    from sitesnap.repository.prune import prune as run_prune

    options = prune_options(max_unused, max_repack)
    params = {"dry_run": dry_run, "max_unused": options.max_unused, "max_repack": options.max_repack}
    plan = in_repository(app, "prune", params, lambda repo, sink: run_prune(repo, options, dry_run=dry_run,
                                                                            sink=sink), record=not dry_run)
    show_prune(app, plan, dry_run)


COMMANDS = [prune]
