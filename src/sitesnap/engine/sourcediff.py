"""What changed in one source of a site between two snapshots: files, tables, or rows.

A files source is diffed as a tree (:func:`sitesnap.engine.browse.diff_trees`
below the source's path).  A database source is read back from the stored
copy, through the row reader of its kind in the sources registry: the SQLite
file (restored into a private temporary directory) or the plain-SQL dump
(streamed from the repository, chunk by chunk).  Identical stored copies
are reported unchanged without reading them.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from sitesnap.engine.blobstream import BlobReader
from sitesnap.engine.browse import DiffEntry, diff_trees, find_node
from sitesnap.engine.rowdiff import TableDiff, TableRowDiff, diff_table, summarize_tables
from sitesnap.errors import UsageError
from sitesnap.format.snapshot import Snapshot
from sitesnap.format.tree import Node
from sitesnap.repository.repository import Repository
from sitesnap.sources.kind import StreamSource, TreeSource
from sitesnap.sources.registry import lookup

__all__ = ["SourceDiff", "diff_source"]

_READ_BLOCK = 1 << 20


def _opener(repo: Repository, node: Node) -> Callable[[], BinaryIO]:
    """Opens the stored copy ``node`` from the start, in large reads, each time it is called."""

    def open_copy() -> BinaryIO:
        return io.BufferedReader(BlobReader(repo, node.content), _READ_BLOCK)

    return open_copy


@dataclass
class SourceDiff:
    """One of ``files`` (a files source), ``tables`` (a database) or ``rows`` (one table) is set."""

    source: str
    kind: str
    path: str
    files: list[DiffEntry] | None = None
    tables: list[TableDiff] | None = None
    rows: TableRowDiff | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"source": self.source, "kind": self.kind, "path": self.path}
        if self.files is not None:
            out["changes"] = [c.to_json() for c in self.files]
        if self.tables is not None:
            out["tables"] = [t.to_json() for t in self.tables]
        if self.rows is not None:
            out["table"] = self.rows.to_json()
        return out


def _record(snap: Snapshot, name: str) -> dict[str, Any]:
    for rec in snap.sources:
        if rec.get("name") == name:
            return rec
    known = ", ".join(str(r.get("name")) for r in snap.sources) or "none (a snapshot of paths)"
    raise UsageError(f"snapshot {snap.short_id} has no source {name!r}", hint=f"Its sources: {known}.")


def diff_source(repo: Repository, a: Snapshot, b: Snapshot, name: str, *, table: str | None = None,
                limit: int = 100) -> SourceDiff:
    """Changes of source ``name`` from snapshot ``a`` to ``b``; ``table`` asks for rows of one table."""
    rec_a, rec_b = _record(a, name), _record(b, name)
    kind, path = str(rec_b.get("kind")), str(rec_b.get("path"))
    if str(rec_a.get("kind")) != kind:
        raise UsageError(f"source {name!r} is {rec_a.get('kind')} in {a.short_id} but {kind} in {b.short_id}")
    node_a, node_b = find_node(repo, a.tree, str(rec_a.get("path"))), find_node(repo, b.tree, path)
    result = SourceDiff(name, kind, path)
    source_kind = lookup(kind)
    if issubclass(source_kind, TreeSource):
        if table is not None:
            raise UsageError(f"--table needs a database source; {name!r} is a files source")
        result.files = list(diff_trees(repo, node_a.subtree, node_b.subtree, path))
        return result
    if not issubclass(source_kind, StreamSource):
        raise UsageError(f"source {name!r} is of type {kind!r}, which has no row reader")
    with tempfile.TemporaryDirectory(prefix="sitesnap-diff-") as tmp:
        reader_a = source_kind.row_reader(_opener(repo, node_a), Path(tmp))
        same = node_a.content == node_b.content
        reader_b = reader_a if same else source_kind.row_reader(_opener(repo, node_b), Path(tmp))
        if table is not None:
            result.rows = diff_table(reader_a, reader_b, table, limit)
        else:
            result.tables = summarize_tables(reader_a, reader_b)
    return result
