"""``restore``: a path snapshot into a directory, or a site (with a config) to its places."""

from __future__ import annotations

import os
import sys
from typing import Any

import click
from rich.table import Table

from sitesnap.cli.context import AppContext, open_site_catalog, pass_app
from sitesnap.cli.output import human_bytes
from sitesnap.errors import UsageError


@click.command()
@click.argument("snapshot", required=False)
@click.option("-t", "--target", type=click.Path(file_okay=False), help="Directory to restore into.")
@click.option("-i", "--include", "includes", multiple=True, help="Restore only paths matching this pattern.")
@click.option("--path", "subpath", default="/", help="Restore only this directory of the snapshot.")
@click.option("--delete", "delete_extra", is_flag=True, help="Delete files in the target that the snapshot lacks.")
@click.option("--at", "at_time", metavar="TIME",
              help="Site restore: the site as of TIME ('now', '2026-11-20 14:00' local, or ISO 8601 with an "
                   "offset): continuous sources replayed to it, the others from the newest snapshot at or before.")
@click.option("--source", "sources", multiple=True, help="Site restore: only this source (repeatable).")
@click.option("--to", "targets", multiple=True, metavar="NAME=TARGET",
              help="Site restore: restore source NAME to a directory, SQLite file or database URL instead.")
@click.option("--dry-run", is_flag=True, help="Site restore: show the plan and stop.")
@click.option("-y", "--yes", is_flag=True, help="Site restore: do not ask before overwriting live data.")
@click.option("--no-safety-snapshot", is_flag=True, help="Site restore: skip the pre-restore snapshot.")
@pass_app
def restore(app: AppContext, snapshot: str | None, target: str | None, includes: tuple[str, ...], subpath: str,
            delete_extra: bool, at_time: str | None, sources: tuple[str, ...], targets: tuple[str, ...],
            dry_run: bool, yes: bool, no_safety_snapshot: bool) -> None:
    """Restore SNAPSHOT (an ID, a prefix or 'latest').

    With --target: write the snapshot's files into that directory (path
    snapshots).  With a site config and no --target: restore the site's sources
    to their places, or elsewhere with --to, after showing a plan and taking a
    pre-restore snapshot of what would be overwritten.
    """
    out = app.output
    if target is None:
        if app.site() is None and (app.repo_url or os.environ.get("SITESNAP_REPOSITORY")):
            raise UsageError("restoring from -r needs --target DIR (where to write the files)",
                             hint="e.g. sitesnap -r REPO restore latest --target ./restored; "
                                  "or pass -c sitesnap.toml to restore the site's sources to their places.")
        site_restore(app, snapshot, at_time, list(sources), list(targets), dry_run=dry_run, yes=yes,
                     safety=not no_safety_snapshot)
        return
    if snapshot is None:
        raise click.UsageError("give a SNAPSHOT (ID, prefix or 'latest') to restore")
    from sitesnap.engine.browse import find_node
    from sitesnap.engine.restorer import Restorer
    from sitesnap.progress import Tracker

    with app.open_repo() as repo, repo.lock(operation="restore"), out.progress("restore") as sink:
        repo.load_index()
        snap = repo.find_snapshot(snapshot)
        node = find_node(repo, snap.tree, subpath)
        tracker = Tracker("restore", sink)
        tracker.update(bytes_total=int(snap.summary.get("bytes_total", 0)))
        restorer = Restorer(repo, tracker, include=list(includes), delete_extra=delete_extra)
        if node.type == "dir" and node.subtree is not None:
            summary = restorer.restore_tree(node.subtree, target)
        elif node.type == "file":
            summary = restorer.restore_file_node(node, os.path.join(target, node.display_name))
        else:
            raise UsageError(f"{subpath}: cannot restore a {node.type} on its own")
    if out.json_mode:
        out.json_line({"message_type": "summary", "snapshot_id": snap.id, "target": target, **summary.to_json()})
        return
    out.always(f"restored snapshot {snap.short_id} to {target}: {summary.files} files, {summary.dirs} directories, "
               f"{human_bytes(summary.bytes)}; every blob verified")



def _parse_targets(targets: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for t in targets:
        name, sep, where = t.partition("=")
        if not sep or not name or not where:
            raise UsageError(f"--to expects NAME=TARGET, got {t!r}")
        out[name] = where
    return out


def site_restore(app: AppContext, ref: str | None, at: str | None, sources: list[str], targets: list[str], *,
                 dry_run: bool, yes: bool, safety: bool) -> None:
    from sitesnap.engine.site import plan_restore

    cfg = app.site(required=True)
    app.site_repository(cfg)  # -r must name one of the site's repositories
    out = app.output
    with app.open_repo() as repo:
        repo.load_index()
        plan = plan_restore(repo, cfg, ref, at, sources or None, _parse_targets(targets))
        if out.json_mode and dry_run:
            out.json({"message_type": "plan", **plan.to_json()})
            return
        if not out.json_mode:
            _show_plan(app, plan)
        if dry_run:
            return
        if plan.overwrites_live_data and not yes:
            if not sys.stdin.isatty():
                raise UsageError("this restore overwrites live data; confirm with --yes",
                                 hint="Review the plan with --dry-run first.")
            typed = click.prompt(f"Type the site name ({cfg.site.name}) to overwrite live data", err=True,
                                 default="", show_default=False)
            if typed != cfg.site.name:
                raise UsageError("not confirmed; nothing was changed")
    from sitesnap.runtime.jobs import run_job

    repo_cfg = app.site_repository(cfg)
    which = {"at": at} if at is not None else {"snapshot": plan.snapshot.id if plan.snapshot else None}
    params = {**which, "sources": [i.source for i in plan.items], "targets": _parse_targets(targets),
              "safety": safety, "repository": repo_cfg.name}
    with open_site_catalog(cfg) as catalog, out.progress("restore") as sink:
        run = run_job("restore", cfg, params, catalog=catalog, triggered_by="cli", sink=sink,
                      password=app.job_password(repo_cfg))
    run.raise_for_error()
    result = run.result
    if out.json_mode:
        out.json_line({"message_type": "summary", "run_id": run.run_id, **result})
        return
    if result.get("safety_snapshot"):
        short = result["safety_snapshot"][:8]
        out.always(f"pre-restore snapshot {short} holds the previous state (undo: {_undo_command(app, short)})")
    for item in result.get("items", []):
        verified = "row counts verified" if item["kind"] != "files" else "every blob verified"
        as_of = f" as of {item['state_time']}" if item.get("state_time") else ""
        out.always(f"restored {item['source']} -> {item['target']}{as_of} ({verified})")
        if item.get("result", {}).get("kept_damaged"):
            out.always(f"  the damaged database was kept as {item['result']['kept_damaged']}")


def _undo_command(app: AppContext, short: str) -> str:
    """The command that restores the pre-restore snapshot, with the same config and repository options."""
    import shlex

    parts = ["sitesnap"]
    config = app.config_file()
    if config:
        parts += ["-c", config]
    if app.repo_url:
        parts += ["-r", app.repo_url]
    return shlex.join([*parts, "restore", short])


def _overwrite(item: Any) -> str:
    """The Overwrite cell of a files source: files replaced, and those already identical ("unchanged")."""
    return f"{item.overwrite} ({item.unchanged} unchanged)" if item.unchanged else str(item.overwrite)


_WIDE = 110
"""Below this many columns the plan lists targets under the table: a database URL does not fit beside it."""


def _show_plan(app: AppContext, plan: object) -> None:
    from sitesnap.engine.site import RestorePlan

    assert isinstance(plan, RestorePlan)
    out = app.output
    if plan.at is not None:
        out.always(f"Restore plan: the site as of {plan.at}")
    elif plan.snapshot is not None:
        out.always(f"Restore plan: snapshot {plan.snapshot.short_id} of "
                   f"{plan.snapshot.time.astimezone():%Y-%m-%d %H:%M:%S} ({plan.snapshot.type})")
    wide = out.console.width >= _WIDE
    table = Table(box=None, header_style="bold")
    for col in ("Source", "Kind", *(("Target",) if wide else ()), "Mode", "Overwrite", "Create", "Delete",
                "Rows before → after"):
        table.add_column(col, overflow="fold")
    for i in plan.items:
        mode = ("in place" if i.exists else "create") if i.in_place else ("overwrite" if i.exists else "new")
        rows = ""
        if i.kind != "files":
            before = sum(i.before.values()) if i.exists else 0
            rows = f"{before} → {sum(i.after.values())} ({len(i.after)} tables)"
        if i.damaged:
            mode = "replace damaged"
            rows = f"unreadable → {sum(i.after.values())}"
        if i.continuous:
            rows = f"{sum(i.before.values()) if i.exists else 0} → replayed log"
        table.add_row(i.source, i.kind, *((i.target,) if wide else ()), mode,
                      _overwrite(i) if i.kind == "files" else ("database" if i.exists else "-"),
                      str(i.create) if i.kind == "files" else "", str(i.delete) if i.kind == "files" else "", rows)
    out.console.print(table)
    if not wide:
        out.always("Targets:")
        for i in plan.items:
            out.always(f"  {i.source}: {i.target}")
    for i in plan.items if plan.at is not None else []:
        how = "log replay" if i.continuous else "snapshot"
        out.always(f"{i.source}: as of {i.state_time} ({how}), {i.behind_seconds:g} s before the requested time")
    for i in plan.items:
        if i.damaged:
            out.always(f"{i.source}: the current database is unreadable ({i.damaged}); it will be kept aside, "
                       "not snapshotted.")
    if plan.overwrites_live_data:
        out.always("Live data will be overwritten; a pre-restore snapshot is taken first.")


COMMANDS = [restore]
