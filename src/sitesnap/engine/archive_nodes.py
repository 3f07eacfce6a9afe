"""Nodes of a tree being archived: finished ones, ones still being read, and comparing with the parent."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future

from sitesnap.format.tree import Node

__all__ = ["Pending", "chain", "done", "same_nodes"]


Pending = Future[Node] | Node
"""A child of a directory: done already (unchanged files, symlinks) or still being read."""


def done(node: Node) -> Future[Node]:
    fut: Future[Node] = Future()
    fut.set_result(node)
    return fut


def copy_content(first: Future[Node], node: Node) -> Node:
    src = first.result()
    node.content = src.content
    node.size = src.size
    return node


def chain(first: Future[Node], node: Node) -> Future[Node]:
    """A future for a hardlink twin that completes when the first link's read does."""
    out: Future[Node] = Future()

    def copy(done: Future[Node]) -> None:
        try:
            out.set_result(copy_content(done, node))
        except BaseException as exc:
            out.set_exception(exc)

    first.add_done_callback(copy)
    return out


def same_nodes(nodes: Sequence[Node], old: dict[bytes, Node]) -> bool:
    """True when ``nodes`` are exactly the parent tree's nodes (names, metadata, content, subtrees)."""
    return len(nodes) == len(old) and all(old.get(n.name) == n for n in nodes)
