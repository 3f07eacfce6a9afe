"""``ls``: the files and directories of a snapshot."""

from __future__ import annotations

import click

from sitesnap.cli.context import AppContext, pass_app


@click.command(name="ls")
@click.argument("snapshot")
@click.argument("path", required=False, default="/")
@click.option("-l", "--long", "long_format", is_flag=True, help="Show mode, size and time.")
@pass_app
def ls_cmd(app: AppContext, snapshot: str, path: str, long_format: bool) -> None:
    """List files in SNAPSHOT (an ID, a prefix or 'latest'), below PATH."""
    import stat as stat_mod
    from datetime import UTC, datetime

    from sitesnap.engine.browse import find_node, walk_tree

    out = app.output
    with app.open_repo() as repo:
        repo.load_index()
        snap = repo.find_snapshot(snapshot)
        node = find_node(repo, snap.tree, path)
        base = "/" + path.strip("/") if path.strip("/") else ""
        entries = list(walk_tree(repo, node.subtree, base)) if node.type == "dir" and node.subtree else [(base, node)]
    if out.json_mode:
        out.json([{"path": p, "type": n.type, "size": n.size, "mode": n.mode,
                   "mtime": datetime.fromtimestamp(n.mtime_ns / 1e9, UTC).isoformat()} for p, n in entries])
        return
    for p, n in entries:
        if long_format:
            kind = {"dir": stat_mod.S_IFDIR, "symlink": stat_mod.S_IFLNK}.get(n.type, stat_mod.S_IFREG)
            when = datetime.fromtimestamp(n.mtime_ns / 1e9).strftime("%Y-%m-%d %H:%M:%S")
            out.always(f"{stat_mod.filemode(kind | n.mode)} {n.user or n.uid:>8} {n.size:>12} {when} {p}")
        else:
            out.always(p)


COMMANDS = [ls_cmd]
