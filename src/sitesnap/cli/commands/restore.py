"""``restore``: a path snapshot into a directory, or a site (with a config) to its places."""

from __future__ import annotations

import click

from sitesnap.cli.context import AppContext, pass_app
from sitesnap.cli.output import human_bytes


@click.command()
@click.argument("snapshot", required=False)
@click.option("-t", "--target", type=click.Path(file_okay=False), help="Directory to restore into.")
@click.option("-i", "--include", "includes", multiple=True, help="Restore only paths matching this pattern.")
@click.option("--path", "subpath", default="/", help="Restore only this directory of the snapshot.")
@click.option("--delete", "delete_extra", is_flag=True, help="Delete files in the target that the snapshot lacks.")
@click.option("--at", "at_time", help="Site restore: the newest snapshot at or before this time.")
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
        from sitesnap.cli.commands.site import site_restore

        site_restore(app, snapshot, at_time, list(sources), list(targets), dry_run=dry_run, yes=yes,
                     safety=not no_safety_snapshot)
        return
    if snapshot is None:
        raise click.UsageError("give a SNAPSHOT (ID, prefix or 'latest') to restore")
    from sitesnap.engine.browse import find_node
    from sitesnap.engine.restorer import Restorer
    from sitesnap.errors import UsageError
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
            import os

            summary = restorer.restore_file_node(node, os.path.join(target, node.display_name))
        else:
            raise UsageError(f"{subpath}: cannot restore a {node.type} on its own")
    if out.json_mode:
        out.json_line({"message_type": "summary", "snapshot_id": snap.id, "target": target, **summary.to_json()})
        return
    out.always(f"restored snapshot {snap.short_id} to {target}: {summary.files} files, {summary.dirs} directories, "
               f"{human_bytes(summary.bytes)}; every blob verified")


COMMANDS = [restore]
