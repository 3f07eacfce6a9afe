"""Pieces the archiver hands around: what it needs of a repository, what it reports, pending nodes.

Kept apart from :mod:`sitesnap.engine.archiver` so the pipeline module holds
only the pipeline; everything here is re-exported there.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Protocol

from sitesnap.format.tree import Node
from sitesnap.sources.files import ScanWarning

__all__ = ["ArchiveSummary", "BlobStore", "Pending", "UnchangedBatch", "chain", "done", "same_nodes"]


class BlobStore(Protocol):
    """What the archiver needs of a repository, and nothing more."""

    def save_blob(
        self, blob_type: int, data: bytes | memoryview, blob_id: bytes | None = None, *, dump: bool = False
    ) -> tuple[bytes, int]: ...

    def has_blob(self, blob_type: int, blob_id: bytes) -> bool: ...

    def load_tree(self, tree_id: bytes) -> list[Node]: ...

    def content_id(self, data: bytes | memoryview) -> bytes: ...


@dataclass
class ArchiveSummary:
    files_new: int = 0
    files_changed: int = 0
    files_unchanged: int = 0
    dirs: int = 0
    bytes_read: int = 0
    bytes_total: int = 0
    bytes_added: int = 0
    tree_blobs_added: int = 0
    warnings: list[ScanWarning] = field(default_factory=list)
    changed_while_reading: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "files_new": self.files_new,
            "files_changed": self.files_changed,
            "files_unchanged": self.files_unchanged,
            "dirs": self.dirs,
            "bytes_read": self.bytes_read,
            "bytes_total": self.bytes_total,
            "bytes_added": self.bytes_added,
            "warnings": [{"path": w.path, "message": w.message} for w in self.warnings],
            "changed_while_reading": self.changed_while_reading,
        }



Pending = Future[Node] | Node
"""A child of a directory: done already (unchanged files, symlinks) or still being read."""


def done(node: Node) -> Future[Node]:
    fut: Future[Node] = Future()
    fut.set_result(node)
    return fut



def _copy_content(first: Future[Node], node: Node) -> Node:
    src = first.result()
    node.content = src.content
    node.size = src.size
    return node


def chain(first: Future[Node], node: Node) -> Future[Node]:
    """A future for a hardlink twin that completes when the first link's read does."""
    out: Future[Node] = Future()

    def copy(done: Future[Node]) -> None:
        try:
            out.set_result(_copy_content(done, node))
        except BaseException as exc:
            out.set_exception(exc)

    first.add_done_callback(copy)
    return out


@dataclass
class UnchangedBatch:
    """One thread's unchanged files not yet added to the summary."""

    files: int = 0
    bytes: int = 0
    since: float = field(default_factory=time.monotonic)


def same_nodes(nodes: Sequence[Node], old: dict[bytes, Node]) -> bool:
    """True when ``nodes`` are exactly the parent tree's nodes (names, metadata, content, subtrees)."""
    return len(nodes) == len(old) and all(old.get(n.name) == n for n in nodes)

