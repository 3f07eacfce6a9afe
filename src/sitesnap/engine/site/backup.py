"""Site backup: every chosen source of a site captured into one snapshot.

Directory trees are archived first (the archiver works on them in the
background), then each database dump in turn.  When no tree comes first, the
first dump is started before the index is loaded, so the dump tool's
connection and catalog queries overlap that wait.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import socket
import time
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, BinaryIO

from sitesnap.config import SiteConfig
from sitesnap.engine.archiver import Archiver, ArchiveSummary
from sitesnap.engine.backup import checkpointed, find_parent, root_meta, snapshot_summary
from sitesnap.engine.browse import find_node
from sitesnap.engine.site.selection import selected_sources
from sitesnap.errors import SourceError, UsageError
from sitesnap.format.snapshot import Snapshot
from sitesnap.format.tree import Node
from sitesnap.progress import NULL_SINK, ProgressSink, Tracker
from sitesnap.repository.repository import Repository
from sitesnap.sources.db import DumpInfo, DumpInfoFuture
from sitesnap.sources.files import ScanWarning
from sitesnap.sources.kind import SourceKind, StreamSource, TreeSource
from sitesnap.sources.registry import open_source

__all__ = ["SiteBackupResult", "backup_site"]

_StartedDump = tuple[BinaryIO, DumpInfoFuture, float]


@dataclass
class SiteBackupResult:
    snapshot: Snapshot
    archive: ArchiveSummary
    duration: float
    sources: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {
            "snapshot_id": self.snapshot.id,
            "short_id": self.snapshot.short_id,
            "time": self.snapshot.time.isoformat(),
            "type": self.snapshot.type,
            "tags": self.snapshot.tags,
            "site": self.snapshot.site,
            "parent": self.snapshot.parent,
            "duration": round(self.duration, 3),
            "sources": self.sources,
            **self.archive.to_json(),
        }


def backup_site(
    repo: Repository, cfg: SiteConfig, *, snapshot_type: str = "incremental", tags: list[str] | None = None,
    sources: list[str] | None = None, sink: ProgressSink = NULL_SINK, hostname: str | None = None,
    now: datetime | None = None, checkpoint_interval: float | None = None,
) -> SiteBackupResult:
    """Capture the site's sources into one snapshot, files first, then database dumps.

    The snapshot's time is the moment the run started, or ``now`` when given
    (simulations and imports; it must be timezone-aware).  A failing database
    fails the whole backup (no snapshot): one silently lacking its database
    would be worse than none.  A missing files folder is left out with a
    ``cannot back up`` warning (see :func:`_available`).
    """
    kinds = [open_source(src) for src in selected_sources(cfg, sources)]
    if not kinds:
        raise UsageError("the site configuration has no sources to back up")
    kinds, missing = _available(kinds)
    started_at = now or datetime.now(UTC)
    started = time.monotonic()
    host = hostname or socket.gethostname()
    site = cfg.site.name
    tracker = Tracker("backup", sink)
    with contextlib.ExitStack() as early, repo.lock(operation=f"backup {site}"):
        run = _SiteRun(repo, kinds, tracker, early)
        repo.load_index()
        parent = find_parent(repo, lambda s: s.site == site and s.hostname == host)
        if parent is not None:
            tracker.update(bytes_total=int(parent.summary.get("bytes_total", 0)))
        with checkpointed(repo, checkpoint_interval):
            with Archiver(repo, repo.config.chunker, tracker, stream_chunker=repo.config.stream_chunker,
                          read_all=snapshot_type == "full") as archiver:
                root = run.archive(archiver, parent)
                summary = archiver.summary
                summary.warnings[:0] = missing
            # Send the latest counters now: the last packs may take a while to upload.
            tracker.update(phase="upload", force=True)
            repo.flush()
        duration = time.monotonic() - started
        assert root.subtree is not None
        snap = Snapshot(
            time=started_at,
            tree=root.subtree,
            paths=[k.origin() for k in kinds],
            hostname=host,
            username=getpass.getuser(),
            tags=sorted(set(tags or [])),
            type=snapshot_type,
            parent=parent.id if parent else None,
            site=site,
            sources=run.records,
            summary=snapshot_summary(summary, duration, repo),
        )
        repo.save_snapshot(snap)
    tracker.finish()
    return SiteBackupResult(snap, summary, time.monotonic() - started, run.records)


@dataclass
class _SiteRun:
    """One site backup's sources, the snapshot records they produce and the early-started dump."""

    repo: Repository
    kinds: list[SourceKind]
    tracker: Tracker
    early: contextlib.ExitStack
    records: list[dict[str, Any]] = field(default_factory=list)
    first: StreamSource | None = None
    started: _StartedDump | None = None

    def __post_init__(self) -> None:
        # A dump that is archived first is started now: the dump tool's connection and
        # catalog queries (~0.1 s before its first byte) overlap loading the index.
        if self.kinds and isinstance(self.kinds[0], StreamSource) and not self.trees():
            self.first = self.kinds[0]
            self.started = self.early.enter_context(_start_dump(self.first))

    def trees(self) -> list[TreeSource]:
        return [k for k in self.kinds if isinstance(k, TreeSource)]

    def streams(self) -> list[StreamSource]:
        return [k for k in self.kinds if isinstance(k, StreamSource)]

    def archive(self, archiver: Archiver, parent: Snapshot | None) -> Node:
        """Archive every source (trees, then dumps) and build the root; returns the root node."""
        sections: dict[str, list[Future[Node]]] = {}
        for tree in self.trees():
            self.tracker.update(phase=f"files {tree.name}")
            old = _parent_node(self.repo, parent, tree.tree_path())
            before = archiver.summary.bytes_total
            fut = archiver.archive_path(str(tree.path), os.fsencode(tree.entry()), old, tree.excluder())
            sections.setdefault(tree.section, []).append(fut)
            self.records.append({"name": tree.name, "kind": tree.type, "path": tree.tree_path(),
                                 "origin": tree.origin(), "size": archiver.summary.bytes_total - before})
        for stream in self.streams():
            self.tracker.update(phase=f"dump {stream.name}", force=True)
            if stream is self.first and self.started is not None:
                node, info, seconds = _archive_dump(archiver, stream, *self.started)
                self.early.close()
            else:
                node, info, seconds = _dump(archiver, stream)
            sections.setdefault(stream.section, []).append(_done(node))
            self.records.append({
                "name": stream.name, "kind": stream.type, "path": stream.tree_path(), "origin": stream.origin(),
                "size": node.size, "seconds": round(seconds, 3), **info.to_dict(),
            })
        children = [archiver.make_dir(root_meta(os.fsencode(name)), nodes) for name, nodes in sections.items()]
        return archiver.make_dir(root_meta(), children).result()


def _available(kinds: list[SourceKind]) -> tuple[list[SourceKind], list[ScanWarning]]:
    """The sources that can be backed up, and a warning per files source that cannot (its folder is gone).

    The databases are backed up all the same and the CLI exits 3, as for
    unreadable files.  A database that cannot be reached raises; so does a
    site left with nothing to back up.
    """
    usable: list[SourceKind] = []
    missing: list[ScanWarning] = []
    first_error: SourceError | None = None
    for kind in kinds:
        try:
            kind.check_available()
        except SourceError as exc:
            if not isinstance(kind, TreeSource):
                raise
            first_error = first_error or exc
            detail = exc.kwargs.get("detail") or exc.message
            missing.append(ScanWarning(kind.name, f"cannot back up: {detail}; not in this snapshot"))
            continue
        usable.append(kind)
    if not usable and first_error is not None:
        raise first_error
    return usable, missing


def _done(node: Node) -> Future[Node]:
    fut: Future[Node] = Future()
    fut.set_result(node)
    return fut


def _parent_node(repo: Repository, parent: Snapshot | None, path: str) -> Node | None:
    if parent is None:
        return None
    try:
        return find_node(repo, parent.tree, path)
    except UsageError:
        return None


def _dump(archiver: Archiver, kind: StreamSource) -> tuple[Node, DumpInfo, float]:
    with _start_dump(kind) as started:
        return _archive_dump(archiver, kind, *started)


@contextlib.contextmanager
def _start_dump(kind: StreamSource) -> Iterator[_StartedDump]:
    """The source's dump, started: (stream, info future, start time); ends the dump on exit."""
    t0 = time.monotonic()
    with kind.dump() as (stream, future):
        yield stream, future, t0


def _archive_dump(archiver: Archiver, kind: StreamSource, stream: BinaryIO, future: DumpInfoFuture,
                  t0: float) -> tuple[Node, DumpInfo, float]:
    node = archiver.archive_stream(os.fsencode(kind.entry()), stream)
    return node, future.result(), time.monotonic() - t0
