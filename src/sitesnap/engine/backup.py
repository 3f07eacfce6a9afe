"""Backup use cases: file paths (``sitesnap backup PATH...``) and the pieces site backups build on.

Order of work, which is what makes a crash harmless: take a shared lock,
load the index, archive (packs are written as they fill), ``flush`` (last
packs, then index files), and only then write the snapshot.  A snapshot is
therefore never written before everything it references is durable.

Checkpoints: while a backup runs, the packs uploaded so far are indexed every
``checkpoint_interval`` seconds, and once more when it is interrupted
(:func:`checkpointed`), so the next backup reuses them instead of uploading
them again.  An interrupted backup writes no snapshot.
"""

from __future__ import annotations

import getpass
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sitesnap.engine.archiver import Archiver, ArchiveSummary
from sitesnap.errors import Interrupted, UsageError
from sitesnap.format.snapshot import Snapshot
from sitesnap.format.tree import Node
from sitesnap.progress import NULL_SINK, ProgressSink, Tracker
from sitesnap.repository.packer import Stopped
from sitesnap.repository.repository import Repository
from sitesnap.sources.files import Excluder
from sitesnap.sources.prescan import Prescan

__all__ = ["STOP_GRACE", "BackupResult", "DryRunStore", "backup_paths", "checkpointed", "dry_run_paths",
           "find_parent", "root_meta", "snapshot_summary"]

STOP_GRACE = 0.3
"""Seconds an interrupted backup waits for packs already uploading before it indexes what arrived."""


@contextmanager
def checkpointed(repo: Repository, interval: float | None = None) -> Iterator[None]:
    """Index uploaded packs every ``interval`` seconds (default: the packer's 5 minutes) and on Ctrl-C.

    Wrap the archiving (inside the lock, outside the ``Archiver``): on
    ``KeyboardInterrupt`` the packer stops (open packs dropped, uploads in
    flight given :data:`STOP_GRACE`), the packs that arrived are indexed, and
    :class:`~sitesnap.errors.Interrupted` says so.
    """
    if interval is not None:
        if interval <= 0:
            raise UsageError("the checkpoint interval must be positive", hint="e.g. --checkpoint-interval 5m")
        repo.packer.checkpoint_interval = interval
    try:
        yield
    except (KeyboardInterrupt, Stopped):
        indexed = repo.packer.stop(grace=STOP_GRACE)
        raise Interrupted(
            f"backup stopped; no snapshot was written, {indexed} uploaded pack(s) were indexed",
            hint="Run the backup again: it reuses what was uploaded.",
        ) from None


@dataclass
class BackupResult:
    snapshot: Snapshot
    archive: ArchiveSummary
    duration: float
    parent: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "snapshot_id": self.snapshot.id,
            "short_id": self.snapshot.short_id,
            "time": self.snapshot.time.isoformat(),
            "parent": self.parent,
            "duration": round(self.duration, 3),
            **self.archive.to_json(),
        }


def root_meta(name: bytes = b"") -> Node:
    """Metadata for a synthetic directory (the snapshot root, ``files/``, ``db/``)."""
    now = time.time_ns()
    return Node(name=name, type="dir", mode=0o755, uid=os.getuid(), gid=os.getgid(), mtime_ns=now, ctime_ns=now)


def find_parent(repo: Repository, match: Callable[[Snapshot], bool]) -> Snapshot | None:
    """The newest snapshot that ``match`` accepts (same paths or same site, same host).

    None on a write-only host, which cannot read snapshots: every file is read
    again, and deduplication still works through the index it can read.
    """
    if repo.write_only is not None:
        return None
    candidates = [s for s in repo.load_snapshots(on_error=lambda *_: None) if match(s)]
    return candidates[-1] if candidates else None


def snapshot_summary(archive: ArchiveSummary, duration: float, repo: Repository) -> dict[str, Any]:
    return {
        "files_new": archive.files_new,
        "files_changed": archive.files_changed,
        "files_unchanged": archive.files_unchanged,
        "dirs": archive.dirs,
        "bytes_total": archive.bytes_total,
        "bytes_read": archive.bytes_read,
        "bytes_added": archive.bytes_added,
        "warnings": len(archive.warnings),
        "duration": round(duration, 3),
    }


def _unique_names(paths: list[str]) -> list[tuple[str, bytes]]:
    out: list[tuple[str, bytes]] = []
    seen: set[bytes] = set()
    for p in paths:
        absolute = os.path.abspath(p)
        name = os.fsencode(os.path.basename(absolute.rstrip("/")) or "root")
        if name in seen:
            raise UsageError(f"two paths end in the same name {os.fsdecode(name)!r}; back them up separately")
        seen.add(name)
        out.append((absolute, name))
    return out


def _paths_parent(
    repo: Repository, host: str, abs_paths: list[str], tracker: Tracker
) -> tuple[Snapshot | None, dict[bytes, Node]]:
    """The parent snapshot of a path backup (same host, same paths, no site) and its top-level nodes."""
    parent = find_parent(repo, lambda s: s.hostname == host and sorted(s.paths) == abs_paths and s.site is None)
    if parent is None:
        return None, {}
    tracker.update(bytes_total=int(parent.summary.get("bytes_total", 0)))
    return parent, {n.name: n for n in repo.load_tree(parent.tree)}


def backup_paths(
    repo: Repository,
    paths: list[str],
    *,
    tags: list[str] | None = None,
    excludes: list[str] | None = None,
    snapshot_type: str = "manual",
    read_all: bool = False,
    sink: ProgressSink = NULL_SINK,
    hostname: str | None = None,
    prescan: Prescan | None = None,
    checkpoint_interval: float | None = None,
) -> BackupResult:
    """Back up ``paths`` as one snapshot; each path appears under its base name at the root.

    ``prescan``, started on the same paths and excludes before the repository
    was opened, lends the listings it made meanwhile; it is stopped here.
    """
    if not paths:
        raise UsageError("give at least one path to back up")
    for p in paths:
        if not os.path.lexists(p):
            raise UsageError(f"{p}: no such file or directory")
    started = time.monotonic()
    host = hostname or socket.gethostname()
    named = _unique_names(paths)
    abs_paths = sorted(a for a, _ in named)
    tracker = Tracker("backup", sink)
    with repo.lock(operation="backup"):
        repo.load_index()
        parent, parent_nodes = _paths_parent(repo, host, abs_paths, tracker)
        excluder = Excluder(list(excludes or []))
        if prescan is not None:
            prescan.stop()
        with checkpointed(repo, checkpoint_interval):
            with Archiver(repo, repo.config.chunker, tracker, stream_chunker=repo.config.stream_chunker,
                          read_all=read_all, prescan=prescan) as archiver:
                children = [archiver.archive_path(a, name, parent_nodes.get(name), excluder) for a, name in named]
                root = archiver.make_dir(root_meta(), children).result()
                summary = archiver.summary
            # Send the latest counters now: the last packs may take a while to upload.
            tracker.update(phase="upload", force=True)
            repo.flush()
        duration = time.monotonic() - started
        assert root.subtree is not None
        snap = Snapshot(
            time=datetime.now(UTC),
            tree=root.subtree,
            paths=abs_paths,
            hostname=host,
            username=getpass.getuser(),
            tags=sorted(set(tags or [])),
            type=snapshot_type,
            parent=parent.id if parent else None,
            summary=snapshot_summary(summary, duration, repo),
        )
        repo.save_snapshot(snap)
    tracker.finish()
    return BackupResult(snap, summary, time.monotonic() - started, parent.id if parent else None)


class DryRunStore:
    """A :class:`~sitesnap.engine.archiver.BlobStore` that counts what a backup would add and writes nothing.

    Deduplication is answered from the repository's index plus the blobs
    this run would have added; ``save_blob`` returns the plaintext size (the
    repository would store it compressed).  Thread-safe.
    """

    def __init__(self, repo: Repository) -> None:
        self.repo = repo
        self._new: set[tuple[int, bytes]] = set()
        self._lock = threading.Lock()

    def save_blob(self, blob_type: int, data: bytes | memoryview, blob_id: bytes | None = None, *,
                  dump: bool = False) -> tuple[bytes, int]:
        blob_id = blob_id if blob_id is not None else self.repo.content_id(data)
        with self._lock:
            if (blob_type, blob_id) in self._new or self.repo.has_blob(blob_type, blob_id):
                return blob_id, 0
            self._new.add((blob_type, blob_id))
        return blob_id, len(data)

    def has_blob(self, blob_type: int, blob_id: bytes) -> bool:
        return (blob_type, blob_id) in self._new or self.repo.has_blob(blob_type, blob_id)

    def load_tree(self, tree_id: bytes) -> list[Node]:
        return self.repo.load_tree(tree_id)

    def content_id(self, data: bytes | memoryview) -> bytes:
        return self.repo.content_id(data)


def dry_run_paths(repo: Repository, paths: list[str], *, excludes: list[str] | None = None, read_all: bool = False,
                  sink: ProgressSink = NULL_SINK, hostname: str | None = None) -> ArchiveSummary:
    """What ``backup_paths`` would read and add, found by reading and chunking as it would; writes nothing.

    No lock is taken (a lock is a write); the counts are those of a backup
    run now: files new, changed and unmodified, bytes read, and bytes added
    before compression.
    """
    for p in paths:
        if not os.path.lexists(p):
            raise UsageError(f"{p}: no such file or directory")
    named = _unique_names(paths)
    tracker = Tracker("backup", sink)
    repo.load_index()
    _, parent_nodes = _paths_parent(repo, hostname or socket.gethostname(), sorted(a for a, _ in named), tracker)
    excluder = Excluder(list(excludes or []))
    with Archiver(DryRunStore(repo), repo.config.chunker, tracker, stream_chunker=repo.config.stream_chunker,
                  read_all=read_all) as archiver:
        children = [archiver.archive_path(a, name, parent_nodes.get(name), excluder) for a, name in named]
        archiver.make_dir(root_meta(), children).result()
        summary = archiver.summary
    tracker.finish()
    return summary
