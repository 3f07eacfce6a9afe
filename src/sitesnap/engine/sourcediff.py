"""What changed in one source of a site between two snapshots: files, tables, or rows.

A files source is diffed as a tree (:func:`sitesnap.engine.browse.diff_trees`
below the source's path).  A database source is read back from the stored
copy, through the reader registered for its type in ``READERS``: the SQLite
file (restored into a private temporary directory) or the plain-SQL dump
(streamed from the repository, chunk by chunk).  Identical stored copies
are reported unchanged without reading them.
"""

from __future__ import annotations

import io
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sitesnap.engine.blobstream import BlobReader
from sitesnap.engine.browse import DiffEntry, diff_trees, find_node
from sitesnap.engine.rowdiff import RowReader, TableDiff, TableRowDiff, diff_table, summarize_tables
from sitesnap.errors import UsageError
from sitesnap.format.snapshot import Snapshot
from sitesnap.format.tree import Node
from sitesnap.repository.repository import Repository
from sitesnap.sources.dumprows import DIALECTS, DumpDialect, Row, TableInfo
from sitesnap.sources.sqliterows import SqliteRows

__all__ = ["READERS", "SourceDiff", "diff_source"]

_READ_BLOCK = 1 << 20


class DumpRowReader:
    """A stored dump as a :class:`~sitesnap.engine.rowdiff.RowReader`: each pass streams it again."""

    def __init__(self, dialect: DumpDialect, repo: Repository, node: Node) -> None:
        self._dialect = dialect
        self._repo = repo
        self._node = node
        self._tables: dict[str, TableInfo] | None = None

    def _open(self) -> io.BufferedReader:
        return io.BufferedReader(BlobReader(self._repo, self._node.content), _READ_BLOCK)

    def scan(self) -> dict[str, TableInfo]:
        if self._tables is None:
            with self._open() as stream:
                self._tables = self._dialect.scan(stream)
        return self._tables

    def rows(self, only: set[str]) -> Iterator[Row]:
        if not only:
            return
        with self._open() as stream:
            yield from self._dialect.rows(stream, only)


def _sqlite_reader(repo: Repository, node: Node, workdir: Path) -> RowReader:
    path = workdir / f"{len(list(workdir.iterdir()))}.sqlite"
    with open(path, "wb") as out, io.BufferedReader(BlobReader(repo, node.content), _READ_BLOCK) as src:
        shutil.copyfileobj(src, out, _READ_BLOCK)
    return SqliteRows(path)


def _dump_reader(kind: str) -> Callable[[Repository, Node, Path], RowReader]:
    def make(repo: Repository, node: Node, _workdir: Path) -> RowReader:
        return DumpRowReader(DIALECTS[kind], repo, node)

    return make


READERS: dict[str, Callable[[Repository, Node, Path], RowReader]] = {
    "sqlite": _sqlite_reader,
    "postgres": _dump_reader("postgres"),
    "mysql": _dump_reader("mysql"),
}


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
    if kind == "files":
        if table is not None:
            raise UsageError(f"--table needs a database source; {name!r} is a files source")
        result.files = list(diff_trees(repo, node_a.subtree, node_b.subtree, path))
        return result
    make = READERS.get(kind)
    if make is None:
        raise UsageError(f"source {name!r} is of type {kind!r}, which has no row reader")
    with tempfile.TemporaryDirectory(prefix="sitesnap-diff-") as tmp:
        reader_a = make(repo, node_a, Path(tmp))
        reader_b = reader_a if node_a.content == node_b.content else make(repo, node_b, Path(tmp))
        if table is not None:
            result.rows = diff_table(reader_a, reader_b, table, limit)
        else:
            result.tables = summarize_tables(reader_a, reader_b)
    return result
