"""Verify what a copy wrote: a copy onto a damaged repository must not report success.

A copy with shared blob IDs sends only the blobs the destination's index
lacks; a blob the index lists in a pack that was lost or cut short would be
"reused" from nothing.  After a copy, every snapshot it wrote is walked in
the destination: each tree is read back from the destination's storage and
decrypted (authenticated), every data blob must be in the destination's
index, and the pack holding it must exist and be long enough.  One LIST of
``data/`` serves the whole check.  Data blobs are not downloaded: that is
``check --read-data``'s job.
"""

from __future__ import annotations

from collections.abc import Iterable

from sitesnap.errors import IntegrityError
from sitesnap.format.blob import DATA, TREE
from sitesnap.repository.config import DATA_PREFIX, pack_name
from sitesnap.repository.repository import Repository

__all__ = ["verify_written"]


def verify_written(dst: Repository, snapshot_ids: Iterable[str]) -> int:
    """Check the snapshots ``snapshot_ids`` of ``dst`` as described above; returns the blobs checked.

    Raises :class:`IntegrityError` naming the first missing or damaged piece.
    """
    packs = {info.name: info.size for info in dst.storage.list(DATA_PREFIX)}
    seen: set[bytes] = set()
    for snapshot_id in snapshot_ids:
        snap = dst.load_snapshot(snapshot_id)
        stack = [snap.tree]
        while stack:
            tree_id = stack.pop()
            if tree_id in seen:
                continue
            seen.add(tree_id)
            _present(dst, packs, TREE, tree_id, snap.short_id)
            for node in dst.load_tree(tree_id):
                if node.type == "dir" and node.subtree is not None:
                    stack.append(node.subtree)
                elif node.type == "file":
                    for blob_id in node.content:
                        if blob_id not in seen:
                            seen.add(blob_id)
                            _present(dst, packs, DATA, blob_id, snap.short_id)
    return len(seen)


def _present(dst: Repository, packs: dict[str, int], blob_type: int, blob_id: bytes, short: str) -> None:
    what = f"{'tree' if blob_type == TREE else 'blob'} {blob_id.hex()[:16]} of copied snapshot {short}"
    loc = dst.blob_location(blob_type, blob_id)
    if loc is None:
        raise IntegrityError(f"{what} is not in the destination's index")
    pack_id, offset, length, _ = loc
    size = packs.get(pack_name(pack_id))
    if size is None:
        raise IntegrityError(f"{what}: its pack {pack_id.hex()[:16]} is missing from the destination",
                             hint="Run 'sitesnap check' and 'repair' on the destination, then copy again.")
    if size < offset + length:
        raise IntegrityError(f"{what}: its pack {pack_id.hex()[:16]} is cut short in the destination",
                             hint="Run 'sitesnap check' and 'repair' on the destination, then copy again.")
