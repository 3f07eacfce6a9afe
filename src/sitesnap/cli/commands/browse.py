"""``snapshots``, ``ls``, ``diff``, ``stats``: read-only views."""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table

from sitesnap.cli.context import AppContext, pass_app
from sitesnap.cli.output import human_bytes
from sitesnap.format.snapshot import Snapshot


def snapshot_json(s: Snapshot) -> dict[str, Any]:
    return {
        "id": s.id,
        "short_id": s.short_id,
        "time": s.time.isoformat(),
        "paths": s.paths,
        "tags": s.tags,
        "type": s.type,
        "hostname": s.hostname,
        "username": s.username,
        "site": s.site,
        "parent": s.parent,
        "sources": s.sources,
        "summary": s.summary,
        "program_version": s.program_version,
        "original": s.original,
    }


@click.command()
@click.option("--tag", "tags", multiple=True, help="Only snapshots with this tag.")
@click.option("--type", "types", multiple=True, help="Only snapshots of this type.")
@click.option("--latest", type=int, default=0, help="Only the newest N snapshots.")
@pass_app
def snapshots(app: AppContext, tags: tuple[str, ...], types: tuple[str, ...], latest: int) -> None:
    """List snapshots, oldest first."""
    out = app.output
    with app.open_repo() as repo:
        snaps = repo.load_snapshots(on_error=lambda sid, exc: out.warn(f"snapshot {sid[:8]}: {exc}"))
    snaps = [s for s in snaps if (not tags or set(tags) & set(s.tags)) and (not types or s.type in types)]
    if latest:
        snaps = snaps[-latest:]
    copies = _copy_status(app)
    if out.json_mode:
        out.json([{**snapshot_json(s), **({"copies": copies.get(s.id, {})} if copies is not None else {})}
                  for s in snaps])
        return
    table = Table(box=None, header_style="bold")
    for col in ("ID", "Time", "Type", "Host", "Tags", "Paths / sources", "Size", *(("Copies",) if copies else ())):
        table.add_column(col)
    for s in snaps:
        what = ", ".join(src.get("name", "?") for src in s.sources) if s.sources else "\n".join(s.paths)
        copied = [", ".join(f"{r}: {c['status']}" for r, c in copies.get(s.id, {}).items())] if copies else []
        table.add_row(s.short_id, s.time.astimezone().strftime("%Y-%m-%d %H:%M:%S"), s.type, s.hostname,
                      ",".join(s.tags), what, human_bytes(int(s.summary.get("bytes_total", 0))), *copied)
    out.console.print(table)
    out.print(f"{len(snaps)} snapshot(s)")


def _copy_status(app: AppContext) -> dict[str, dict[str, Any]] | None:
    """With a site config: snapshot ID -> repository -> latest copy result (copies.jsonl)."""
    cfg = app.site()
    if cfg is None:
        return None
    from sitesnap.engine.copy import load_copy_status

    return load_copy_status(cfg.runtime.state_dir)


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


@click.command()
@click.argument("snapshot_a")
@click.argument("snapshot_b")
@click.option("--source", help="Only this source of a site; for a database, rows added/removed/changed per table.")
@click.option("--table", help="With a database --source: the rows of this table that differ, by primary key.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(min=1), help="Rows shown with --table.")
@pass_app
def diff(app: AppContext, snapshot_a: str, snapshot_b: str, source: str | None, table: str | None,
         limit: int) -> None:
    """Show what changed from SNAPSHOT_A to SNAPSHOT_B (+ added, - removed, M modified, T type, U metadata)."""
    from sitesnap.engine.browse import diff_trees

    out = app.output
    if source or table:
        from sitesnap.cli.diffview import show_source_diff

        show_source_diff(app, snapshot_a, snapshot_b, source, table, limit)
        return
    with app.open_repo() as repo:
        repo.load_index()
        a = repo.find_snapshot(snapshot_a)
        b = repo.find_snapshot(snapshot_b)
        changes = list(diff_trees(repo, a.tree, b.tree))
    if out.json_mode:
        out.json({"from": a.id, "to": b.id, "changes": [c.to_json() for c in changes]})
        return
    for c in changes:
        out.always(f"{c.change}    {c.path}")
    counts = {k: sum(1 for c in changes if c.change == k) for k in "+-MTU"}
    out.print(f"\n{counts['+']} added, {counts['-']} removed, {counts['M']} modified, "
              f"{counts['T']} type changed, {counts['U']} metadata only")


@click.command()
@click.argument("snapshot_ids", nargs=-1)
@pass_app
def stats(app: AppContext, snapshot_ids: tuple[str, ...]) -> None:
    """Sizes: what the snapshots restore to, and what they take in the repository."""
    from sitesnap.engine.browse import repo_stats

    out = app.output
    with app.open_repo() as repo:
        repo.load_index()
        snaps = [repo.find_snapshot(s) for s in snapshot_ids] if snapshot_ids else repo.load_snapshots()
        result: dict[str, Any] = dict(repo_stats(repo, [s.tree for s in snaps]))
        result["snapshots"] = len(snaps)
        result["repository_size"] = sum(i.size for i in repo.storage.list(""))
        result["packs"] = len(repo.index.packs())
    restore = result["restore_size"]
    result["dedup_ratio"] = round(restore / result["raw_data_size"], 3) if result["raw_data_size"] else 0.0
    result["compression_ratio"] = (
        round(result["raw_data_size"] / result["stored_size"], 3) if result["stored_size"] else 0.0
    )
    if out.json_mode:
        out.json(result)
        return
    out.always(f"Snapshots:          {result['snapshots']}")
    out.always(f"Files:              {result['files']}")
    out.always(f"Restore size:       {human_bytes(restore)}")
    out.always(f"Unique data:        {human_bytes(result['raw_data_size'])} in {result['unique_blobs']} blobs")
    out.always(f"Stored (encrypted): {human_bytes(result['stored_size'])}")
    out.always(f"Repository total:   {human_bytes(result['repository_size'])} in {result['packs']} packs")
    out.always(f"Deduplication:      {result['dedup_ratio']}x   Compression: {result['compression_ratio']}x")


COMMANDS = [snapshots, ls_cmd, diff, stats]
