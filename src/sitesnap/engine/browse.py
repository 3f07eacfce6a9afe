"""Read-only views of snapshots: listing, diffing, sizes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from sitesnap.errors import IntegrityError, UsageError
from sitesnap.format.blob import DATA, TREE
from sitesnap.format.tree import Node, safe_name

__all__ = ["DiffEntry", "diff_trees", "find_node", "repo_stats", "walk_tree"]


class TreeSource(Protocol):
    def load_tree(self, tree_id: bytes) -> list[Node]: ...


def walk_tree(repo: TreeSource, tree_id: bytes, prefix: str = "") -> Iterator[tuple[str, Node]]:
    """(path, node) for every entry below ``tree_id``, depth-first, sorted by name."""
    for node in repo.load_tree(tree_id):
        path = f"{prefix}/{node.display_name}"
        yield path, node
        if node.type == "dir" and node.subtree is not None:
            yield from walk_tree(repo, node.subtree, path)


def find_node(repo: TreeSource, root: bytes, path: str) -> Node:
    """The node at ``path`` ("/files/uploads") below the root tree; UsageError if absent."""
    parts = [p for p in path.strip("/").split("/") if p]
    current = Node(name=b"", type="dir", subtree=root)
    for part in parts:
        if current.type != "dir" or current.subtree is None:
            raise UsageError(f"{path}: not a directory in the snapshot")
        match = [n for n in repo.load_tree(current.subtree) if n.display_name == part]
        if not match:
            raise UsageError(f"{path}: not in the snapshot")
        if not safe_name(match[0].name):
            # A hostile tree may hold "..": resolving it would let a restore write outside its target.
            raise IntegrityError(f"{path}: unsafe name {match[0].name!r} in snapshot (refused)")
        current = match[0]
    return current


@dataclass(frozen=True)
class DiffEntry:
    change: str  # "+", "-", "M" (content), "T" (type), "U" (metadata only)
    path: str

    def to_json(self) -> dict[str, str]:
        return {"change": self.change, "path": self.path}


def _meta(n: Node) -> tuple[int, int, int, int]:
    return (n.mode, n.uid, n.gid, n.mtime_ns)


def _content_changed(old: Node, new: Node) -> bool:
    if new.type == "file":
        return old.content != new.content or old.size != new.size
    return new.type == "symlink" and old.target != new.target


def diff_trees(repo: TreeSource, a: bytes | None, b: bytes | None, prefix: str = "") -> Iterator[DiffEntry]:
    """Changes from tree ``a`` to tree ``b``; identical subtrees are skipped by ID."""
    if a == b:
        return
    left = {n.name: n for n in repo.load_tree(a)} if a else {}
    right = {n.name: n for n in repo.load_tree(b)} if b else {}
    for name in sorted(left.keys() | right.keys()):
        old, new = left.get(name), right.get(name)
        shown = (new or old).display_name  # type: ignore[union-attr]
        path = f"{prefix}/{shown}"
        if old is None:
            assert new is not None
            yield DiffEntry("+", path + ("/" if new.type == "dir" else ""))
            if new.type == "dir":
                yield from diff_trees(repo, None, new.subtree, path)
        elif new is None:
            yield DiffEntry("-", path + ("/" if old.type == "dir" else ""))
            if old.type == "dir":
                yield from diff_trees(repo, old.subtree, None, path)
        elif old.type != new.type:
            yield DiffEntry("T", path)
        elif new.type == "dir":
            if _meta(old) != _meta(new) and old.subtree == new.subtree:
                yield DiffEntry("U", path + "/")
            yield from diff_trees(repo, old.subtree, new.subtree, path)
        elif _content_changed(old, new):
            yield DiffEntry("M", path)
        elif _meta(old) != _meta(new):
            yield DiffEntry("U", path)


class StatsSource(TreeSource, Protocol):
    def blob_location(self, blob_type: int, blob_id: bytes) -> tuple[bytes, int, int, int] | None: ...


def repo_stats(repo: StatsSource, roots: list[bytes]) -> dict[str, int]:
    """Restore size (logical, every root counted) and the unique stored size of what ``roots`` reference.

    ``restore_size`` and ``files`` count each root in full, as a restore of
    each snapshot would write them, even when snapshots share their trees;
    ``raw_data_size`` and ``stored_size`` count each blob once, as the
    repository stores it.  ``unique_data_size`` is the plaintext of the file
    content blobs alone, the denominator of the deduplication ratio (tree
    blobs are metadata, not restored bytes).
    """
    sizes: dict[bytes, tuple[int, int]] = {}
    seen: set[bytes] = set()
    totals = {"stored": 0, "plain": 0, "data": 0}

    def account(blob_type: int, blob_id: bytes) -> None:
        loc = repo.blob_location(blob_type, blob_id)
        if loc:
            totals["stored"] += loc[2]
            totals["plain"] += loc[3]
            if blob_type == DATA:
                totals["data"] += loc[3]

    def walk(tree_id: bytes) -> tuple[int, int]:
        if tree_id in sizes:
            return sizes[tree_id]
        account(TREE, tree_id)
        files = size = 0
        for node in repo.load_tree(tree_id):
            if node.type == "dir" and node.subtree is not None:
                sub_files, sub_size = walk(node.subtree)
                files, size = files + sub_files, size + sub_size
            elif node.type == "file":
                files, size = files + 1, size + node.size
                for blob_id in node.content:
                    if blob_id not in seen:
                        seen.add(blob_id)
                        account(DATA, blob_id)
        sizes[tree_id] = (files, size)
        return files, size

    per_root = [walk(root) for root in roots]
    return {
        "files": sum(f for f, _ in per_root),
        "restore_size": sum(s for _, s in per_root),
        "unique_blobs": len(seen),
        "trees": len(sizes),
        "raw_data_size": totals["plain"],
        "unique_data_size": totals["data"],
        "stored_size": totals["stored"],
    }
