"""What the repository holds and what its snapshots use: the facts prune, repair and re-encryption plan from.

Every function here reads and changes nothing in storage
(:func:`load_index_files` replaces the in-memory index with what the index
files say).  Damage that would make deleting unsafe raises IntegrityError
with a hint, so no plan is ever made on incomplete knowledge.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from sitesnap.errors import AppendOnlyError, IntegrityError, ObjectNotFound
from sitesnap.format.blob import DATA, TREE
from sitesnap.format.index import IndexFile
from sitesnap.format.pack import PackEntry
from sitesnap.repository.config import DATA_PREFIX, INDEX_PREFIX
from sitesnap.repository.masterindex import MasterIndex
from sitesnap.repository.repository import Repository

__all__ = ["BlobKey", "ensure_deletable", "indexed_packs", "load_index_files", "storage_packs", "used_blobs"]

BlobKey = tuple[int, bytes]


def ensure_deletable(repo: Repository, operation: str) -> None:
    """Raise :class:`AppendOnlyError` if the repository's storage may not delete.

    Called before anything is changed, so an append-only repository is left
    exactly as it was instead of half-pruned.
    """
    if repo.storage.properties.append_only:
        raise AppendOnlyError(
            f"{operation} deletes data, and the repository at {repo.storage.properties.url} is append-only",
            hint=f"Run '{operation}' from a host whose credentials may delete (append_only = false).",
        )


def load_index_files(repo: Repository) -> dict[str, IndexFile]:
    """Every index file, strictly: a damaged one raises IntegrityError (prune must not guess)."""
    ids = repo.list_ids(INDEX_PREFIX)

    def fetch(index_id: str) -> tuple[str, IndexFile | IntegrityError | ObjectNotFound]:
        try:
            return index_id, repo.read_index(index_id)
        except (IntegrityError, ObjectNotFound) as exc:
            return index_id, exc

    out: dict[str, IndexFile] = {}
    with ThreadPoolExecutor(max_workers=8) as pool:
        for index_id, res in pool.map(fetch, ids):
            if not isinstance(res, IndexFile):
                raise IntegrityError(
                    f"index {index_id[:16]} is unreadable ({res.kwargs.get('detail') or res.message}); "
                    "refusing to delete anything",
                    hint="Run 'sitesnap repair index' first.",
                )
            out[index_id] = res
    index = MasterIndex()
    for index_id, idx in out.items():
        index.add_index(index_id, idx)
    repo.index = index
    return out


def used_blobs(repo: Repository, roots: Iterable[bytes]) -> set[BlobKey]:
    """Every tree and data blob reachable from ``roots``; a missing tree raises IntegrityError."""
    used: set[BlobKey] = set()
    stack = list(roots)
    while stack:
        tree_id = stack.pop()
        if (TREE, tree_id) in used:
            continue
        try:
            nodes = repo.load_tree(tree_id)
        except IntegrityError as exc:
            raise IntegrityError(
                f"tree {tree_id.hex()[:16]} is unreadable ({exc.message}); refusing to delete anything",
                hint="Run 'sitesnap repair snapshots' to find and remove the damaged snapshots.",
            ) from None
        used.add((TREE, tree_id))
        for node in nodes:
            if node.type == "dir" and node.subtree is not None:
                stack.append(node.subtree)
            elif node.type == "file":
                used.update((DATA, b) for b in node.content)
    return used


def storage_packs(repo: Repository) -> dict[bytes, int]:
    """Pack ID -> size of every pack in storage (unfinished uploads left out)."""
    out: dict[bytes, int] = {}
    for info in repo.storage.list(DATA_PREFIX):
        hex_id = info.name.rsplit("/", 1)[-1]
        if len(hex_id) == 64 and ".tmp" not in info.name:
            try:
                out[bytes.fromhex(hex_id)] = info.size
            except ValueError:
                continue
    return out


def indexed_packs(indexes: dict[str, IndexFile]) -> dict[bytes, list[PackEntry]]:
    """Pack ID -> its entries (by offset) over all index files, each blob location once."""
    packs: dict[bytes, dict[tuple[int, bytes, int], PackEntry]] = {}
    for idx in indexes.values():
        for pack_id, entries in idx.packs.items():
            slot = packs.setdefault(pack_id, {})
            for e in entries:
                slot[(e.type, e.id, e.offset)] = e
    return {p: sorted(d.values(), key=lambda e: e.offset) for p, d in packs.items()}
