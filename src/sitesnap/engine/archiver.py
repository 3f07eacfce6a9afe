"""The archiver: turns file trees and streams into trees and blobs.

Pipeline (all threads, the native libraries release the GIL):

- the *walker* (caller's thread) scans directories depth-first, compares
  each file with the parent snapshot's node and reuses its chunk list when
  size, mtime, ctime and inode are unchanged (no read at all);
- *file workers* read, chunk, hash, compress, encrypt and save changed files;
- the *tree finalizer* (one thread, post-order) waits for a directory's
  children, encodes its tree and saves it.

Memory is bounded whatever the tree's size (at most ``max_files_in_flight``
files and ``max_dirs_in_flight`` directories pending; contents streamed).
Leaving the ``with`` block on an exception (Ctrl-C) cancels queued reads
without waiting; reads under way end at their next chunk (``Packer.stop``).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import BinaryIO, Protocol

from sitesnap.errors import SourceError
from sitesnap.format.blob import DATA, TREE
from sitesnap.format.chunker import Chunker, ChunkerParams
from sitesnap.format.tree import Node, encode_tree
from sitesnap.progress import Tracker
from sitesnap.repository.packer import Stopped
from sitesnap.sources.files import Excluder, ScanWarning, node_from_stat, scan_dir
from sitesnap.sources.prescan import Prescan

from .archive_nodes import Pending, chain, done, same_nodes
from .archive_stream import save_stream
from .archive_summary import ArchiveSummary, UnchangedBatch

__all__ = ["ArchiveSummary", "Archiver", "BlobStore"]

_READ_SIZE = 1 << 20


class BlobStore(Protocol):
    """What the archiver needs of a repository, and nothing more."""

    def save_blob(
        self, blob_type: int, data: bytes | memoryview, blob_id: bytes | None = None, *, dump: bool = False
    ) -> tuple[bytes, int]: ...

    def has_blob(self, blob_type: int, blob_id: bytes) -> bool: ...

    def load_tree(self, tree_id: bytes) -> list[Node]: ...

    def content_id(self, data: bytes | memoryview) -> bytes: ...


_INLINE_READ = 64 << 10
"""Files up to this size are read by the walking thread itself."""


class Archiver:
    """One backup run's archiving.  Call :meth:`close` (or use ``with``) when done."""

    def __init__(
        self,
        store: BlobStore,
        chunker: ChunkerParams,
        tracker: Tracker,
        *,
        workers: int = 0,
        read_all: bool = False,
        stream_chunker: ChunkerParams | None = None,
        max_files_in_flight: int = 64,
        max_dirs_in_flight: int = 512,
        prescan: Prescan | None = None,
    ) -> None:
        self.store = store
        self.prescan = prescan
        self.chunker_params = chunker
        self.stream_params = stream_chunker or chunker
        self.tracker = tracker
        self.read_all = read_all
        self.summary = ArchiveSummary()
        self._local = threading.local()
        self._lock = threading.Lock()
        self._files = ThreadPoolExecutor(
            max_workers=workers or max(2, os.cpu_count() or 2), thread_name_prefix="sitesnap-read"
        )
        self._trees = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sitesnap-tree")
        self._file_slots = threading.BoundedSemaphore(max_files_in_flight)
        self._dir_slots = threading.BoundedSemaphore(max_dirs_in_flight)
        self._hardlinks: dict[tuple[int, int], Future[Node]] = {}
        self._stopping = threading.Event()

    def close(self) -> None:
        self._files.shutdown(wait=True)
        self._trees.shutdown(wait=True)

    def __enter__(self) -> Archiver:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        self.close() if exc_type is None else self.stop()

    def stop(self) -> None:
        """Abandon the run: cancel queued reads and trees, let running reads end at their next chunk."""
        self._stopping.set()
        self._files.shutdown(wait=False, cancel_futures=True)
        self._trees.shutdown(wait=False, cancel_futures=True)

    # --- public API -----------------------------------------------------------------

    def archive_path(
        self, path: str | bytes, name: bytes, parent: Node | None, excluder: Excluder | None = None
    ) -> Future[Node]:
        """Archive a file, directory or symlink at ``path`` as a node called ``name``."""
        bpath = os.fsencode(path)
        try:
            st = os.lstat(bpath)
        except OSError as exc:
            raise SourceError(f"{os.fsdecode(bpath)}: {exc.strerror}") from None
        node = node_from_stat(name, st)
        if node is None:
            raise SourceError(f"{os.fsdecode(bpath)} is not a regular file, directory or symlink")
        node.name = name
        try:
            result = self._archive_entry(bpath, "", node, parent, excluder or Excluder())
        finally:
            self._flush_unchanged(os.fsdecode(name))
        return result if isinstance(result, Future) else done(result)

    def archive_stream(self, name: bytes, stream: BinaryIO, meta: Node | None = None) -> Node:
        """Chunk and save a stream (a database dump) as a file node; runs in the caller's thread."""
        node = meta or Node(name=name, type="file", mode=0o600)
        node.name = name
        node.content, node.size = save_stream(stream, self.stream_params, self._save_batch, self.tracker,
                                              self.summary, self._lock)
        self.tracker.update(files_done=1)
        with self._lock:
            self.summary.files_new += 1
        return node

    def make_dir(
        self, meta: Node, children: Sequence[Pending], parent: tuple[bytes, dict[bytes, Node]] | None = None
    ) -> Future[Node]:
        """A directory node whose tree is the given children.

        ``parent`` is (tree ID, nodes by name) of the same directory in the
        parent snapshot: when every child comes out equal to its old node the
        new tree is that tree, and its ID is reused without encoding anything.
        """
        if all(c.done() for c in children if isinstance(c, Future)):
            # Nothing to wait for (an unchanged directory, typically): build it here rather
            # than hand it to the tree thread and back, which costs more than the work.
            return done(self._build_dir(meta, children, parent))
        self._dir_slots.acquire()
        return self._trees.submit(self._finalize_dir, meta, children, parent)

    # --- internals ------------------------------------------------------------------

    def _chunker(self) -> Chunker:
        chunker = getattr(self._local, "chunker", None)
        if chunker is None:
            chunker = Chunker(self.chunker_params)
            self._local.chunker = chunker
        return chunker

    def _save_data(self, chunk: bytes | memoryview, *, dump: bool = False) -> tuple[bytes, int]:
        blob_id = self.store.content_id(chunk)
        if self.store.has_blob(DATA, blob_id):
            return blob_id, 0
        saved_id, added = self.store.save_blob(DATA, chunk, blob_id, dump=dump)
        if added:
            with self._lock:
                self.summary.bytes_added += added
        return saved_id, added

    def _save_batch(self, chunks: list[bytes]) -> list[tuple[bytes, int]]:
        return [self._save_data(c, dump=True) for c in chunks]

    def _warn(self, warning: ScanWarning) -> None:
        with self._lock:
            self.summary.warnings.append(warning)

    def _archive_entry(
        self,
        path: bytes,
        rel: str,
        node: Node,
        parent: Node | None,
        excluder: Excluder,
    ) -> Pending:
        if node.type == "dir":
            return self._archive_dir(path, rel, node, parent, excluder)
        if node.type == "symlink":
            try:
                node.target = os.readlink(path)
            except OSError as exc:
                self._warn(ScanWarning(rel or os.fsdecode(path), f"cannot read symlink: {exc.strerror}"))
            return node
        return self._archive_file(path, rel, node, parent)

    def _archive_dir(
        self, path: bytes, rel: str, node: Node, parent: Node | None, excluder: Excluder
    ) -> Future[Node]:
        old_children: dict[bytes, Node] = {}
        old_tree: tuple[bytes, dict[bytes, Node]] | None = None
        if parent is not None and parent.type == "dir" and parent.subtree is not None:
            try:
                old_children = {n.name: n for n in self.store.load_tree(parent.subtree)}
                old_tree = (parent.subtree, old_children)
            except Exception:
                old_children = {}
        children: list[Pending] = []
        taken = self.prescan.take(path) if self.prescan is not None else None
        if taken is None:
            listing: Iterable[tuple[os.DirEntry[bytes], Node]] = scan_dir(path, rel, excluder, self._warn)
        else:
            listing, warnings = taken
            for warning in warnings:
                self._warn(warning)
        for entry, child in listing:
            child_rel = f"{rel}/{os.fsdecode(entry.name)}" if rel else os.fsdecode(entry.name)
            children.append(
                self._archive_entry(entry.path, child_rel, child, old_children.get(child.name), excluder)
            )
        return self.make_dir(node, children, old_tree)

    def _finalize_dir(
        self, meta: Node, children: Sequence[Pending], parent: tuple[bytes, dict[bytes, Node]] | None
    ) -> Node:
        try:
            return self._build_dir(meta, children, parent)
        finally:
            self._dir_slots.release()

    def _build_dir(
        self, meta: Node, children: Sequence[Pending], parent: tuple[bytes, dict[bytes, Node]] | None
    ) -> Node:
        nodes = [c.result() if isinstance(c, Future) else c for c in children]
        if parent is not None and same_nodes(nodes, parent[1]) and self.store.has_blob(TREE, parent[0]):
            # Equal nodes encode to equal bytes, hence the same content-addressed tree.
            tree_id, added = parent[0], 0
        else:
            tree_id, added = self.store.save_blob(TREE, encode_tree(nodes))
        meta.subtree = tree_id
        meta.size = 0
        with self._lock:
            self.summary.dirs += 1
            self.summary.bytes_added += added
            if added:
                self.summary.tree_blobs_added += 1
        return meta

    def _archive_file(self, path: bytes, rel: str, node: Node, parent: Node | None) -> Pending:
        if (
            not self.read_all
            and parent is not None
            and parent.type == "file"
            and parent.size == node.size
            and parent.mtime_ns == node.mtime_ns
            and parent.ctime_ns == node.ctime_ns
            and parent.inode == node.inode
            and all(self.store.has_blob(DATA, c) for c in parent.content)
        ):
            node.content = parent.content
            self._count_unchanged(node.size, rel)
            return node
        changed = parent is not None
        if node.size <= _INLINE_READ and node.nlink == 1:
            # A small file is read, hashed and sealed faster here than a hand-over to a reader
            # thread costs (a Future, a semaphore and two GIL switches per file).
            return self._read_small(path, rel, node, changed)
        with self._lock:
            self.summary.bytes_total += node.size
        if node.nlink > 1:
            key = (node.dev, node.inode)
            with self._lock:
                first = self._hardlinks.get(key)
            if first is not None:
                return chain(first, node)
        self._file_slots.acquire()
        fut = self._files.submit(self._read_file, path, rel, node, changed)
        if node.nlink > 1:
            with self._lock:
                self._hardlinks[(node.dev, node.inode)] = fut
        return fut

    def _count_unchanged(self, size: int, rel: str) -> None:
        """Count an unchanged file; reported in batches, as a walk meets thousands per second."""
        batch = getattr(self._local, "unchanged", None)
        if batch is None:
            batch = self._local.unchanged = UnchangedBatch()
        batch.files += 1
        batch.bytes += size
        if batch.files >= 256 or time.monotonic() - batch.since >= 0.1:
            self._flush_unchanged(rel)

    def _flush_unchanged(self, rel: str) -> None:
        """Hand this thread's counted unchanged files to the summary and the progress."""
        batch = getattr(self._local, "unchanged", None)
        if batch is None or not batch.files:
            return
        files, size = batch.files, batch.bytes
        batch.files = batch.bytes = 0
        batch.since = time.monotonic()
        with self._lock:
            self.summary.files_unchanged += files
            self.summary.bytes_total += size
        self.tracker.update(files_done=files, bytes_done=size, current=rel)

    def _read_small(self, path: bytes, rel: str, node: Node, changed: bool) -> Node:
        """Read a file of at most one chunk in one call: one lock and one progress update per file.

        A file that cannot be opened, or changes while read, takes the general
        path, which retries, warns and counts it the same way.
        """
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                before = os.fstat(fd)
                data = os.read(fd, before.st_size + 1)
                after = os.fstat(fd)
            finally:
                os.close(fd)
        except OSError:
            data, before, after = b"", None, None
        if (before is None or after is None or len(data) != before.st_size or len(data) != after.st_size
                or before.st_mtime_ns != after.st_mtime_ns or len(data) > self.chunker_params.min_size):
            with self._lock:
                self.summary.bytes_total += node.size
            self._file_slots.acquire()
            return self._read_file(path, rel, node, changed)
        node.content = [self._save_data(data)[0]] if data else []
        with self._lock:
            self.summary.bytes_total += node.size
            self.summary.bytes_read += len(data)
            if changed:
                self.summary.files_changed += 1
            else:
                self.summary.files_new += 1
        node.size = len(data)
        self.tracker.update(bytes_done=len(data), files_done=1, current=rel)
        return node

    def _read_file(self, path: bytes, rel: str, node: Node, changed: bool) -> Node:
        try:
            for attempt in range(3):
                content, size, stable = self._read_once(path, rel)
                if stable or attempt == 2:
                    break
            node.content = content
            if not stable:
                with self._lock:
                    self.summary.changed_while_reading.append(rel)
                self._warn(ScanWarning(rel, "file changed while it was read; the snapshot holds the last read"))
            if size != node.size:
                node.size = size
            with self._lock:
                if changed:
                    self.summary.files_changed += 1
                else:
                    self.summary.files_new += 1
            self.tracker.update(files_done=1, current=rel)
            return node
        except OSError as exc:
            self._warn(ScanWarning(rel, f"cannot read: {exc.strerror}"))
            node.content = []
            node.size = 0
            return node
        finally:
            self._file_slots.release()

    def _read_once(self, path: bytes, rel: str) -> tuple[list[bytes], int, bool]:
        content: list[bytes] = []
        total = 0
        with open(path, "rb", buffering=0) as fh:
            before = os.fstat(fh.fileno())
            if before.st_size <= self.chunker_params.min_size:
                data = fh.read()
                if data:
                    content.append(self._save_data(data)[0])
                total = len(data)
                self.tracker.update(bytes_done=total)
            else:
                for chunk in self._chunker().cut_stream_views(fh):
                    if self._stopping.is_set():
                        raise Stopped()
                    content.append(self._save_data(chunk)[0])
                    total += len(chunk)
                    self.tracker.update(bytes_done=len(chunk))
            after = os.fstat(fh.fileno())
        with self._lock:
            self.summary.bytes_read += total
        stable = (
            before.st_mtime_ns == after.st_mtime_ns and before.st_size == after.st_size == total
        )
        return content, total, stable
