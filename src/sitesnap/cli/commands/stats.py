"""``stats``: sizes of snapshots and of the repository."""

from __future__ import annotations

from typing import Any

import click

from sitesnap.cli.context import AppContext, pass_app
from sitesnap.cli.output import human_bytes


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
    unique = result["unique_data_size"]
    # Restored bytes per stored plaintext byte of file content: three identical snapshots are 3x.
    result["dedup_ratio"] = round(restore / unique, 3) if unique else 0.0
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


COMMANDS = [stats]
