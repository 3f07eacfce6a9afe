"""The restorer: writes a snapshot's tree into a target directory, safely.

Safety rules (docs/format/v1.md, "Restore safety"):

- every name is one path segment (no ``/``, ``..``, NUL, empty); a tree with
  such a name or with duplicate names is refused as damaged;
- directories are created and entered with ``openat(O_NOFOLLOW|O_DIRECTORY)``
  relative to their parent's descriptor, so a symlink, whether in the
  snapshot or already on disk, is never followed out of the target;
- files are written to a temporary name in their directory and renamed
  over the final name: a reader never sees half a file, and a symlink
  planted at the final name is replaced, not followed;
- every blob is verified (authenticated, decompressed, hash-checked) and
  every file's size checked against the snapshot.

The walk (this module) makes directories, symlinks and hard links and hands
files to :class:`~sitesnap.engine.restore_writer.FileWriter`, which reads
each needed stretch of a pack once for a whole batch of files.
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

import pathspec

from sitesnap.engine.restoretarget import make_target
from sitesnap.errors import RestoreError
from sitesnap.format.tree import Node
from sitesnap.process import pid_alive
from sitesnap.progress import Tracker

from .restore_fs import DIR_FLAGS, Dir, check_tree_names, open_parent, owner, remove, tmp_name, tmp_owner, unlink_quiet
from .restore_writer import BlobSource, FileWriter, WriteCounts

__all__ = ["BlobLoader", "RestoreSummary", "Restorer", "check_tree_names"]


class BlobLoader(BlobSource, Protocol):
    """A repository as the restorer sees it: trees, index lookups and pack reads."""

    def load_blobs(self, blob_type: int, blob_ids: list[bytes]) -> Iterator[bytes]: ...

    def load_tree(self, tree_id: bytes) -> list[Node]: ...


@dataclass
class RestoreSummary:
    files: int = 0
    dirs: int = 0
    symlinks: int = 0
    hardlinks: int = 0
    bytes: int = 0
    deleted: int = 0
    errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "dirs": self.dirs,
            "symlinks": self.symlinks,
            "hardlinks": self.hardlinks,
            "bytes": self.bytes,
            "deleted": self.deleted,
            "errors": self.errors,
        }


class Restorer:
    """Restores trees and single files from ``loader``; one instance per restore.

    Directories, symlinks and hard links are made by the walking thread; file
    contents are written pack by pack by :class:`FileWriter` on a pool of
    ``workers`` threads, with at most ``read_budget`` bytes of pack ranges queued or being read
    (by default what :func:`~sitesnap.repository.packread.read_limits` gives the storage).
    """

    def __init__(
        self,
        loader: BlobLoader,
        tracker: Tracker,
        *,
        workers: int = 0,
        include: list[str] | None = None,
        delete_extra: bool = False,
        restore_owner: bool | None = None,
        read_budget: int | None = None,
    ) -> None:
        self.loader = loader
        self.tracker = tracker
        self.summary = RestoreSummary()
        self.delete_extra = delete_extra
        self.restore_owner = os.geteuid() == 0 if restore_owner is None else restore_owner
        self._include = pathspec.PathSpec.from_lines("gitwildmatch", include) if include else None
        self._pool = ThreadPoolExecutor(
            max_workers=workers or max(4, os.cpu_count() or 2), thread_name_prefix="sitesnap-restore"
        )
        self._lock = threading.Lock()
        self._counts = WriteCounts(errors=self.summary.errors)
        self._writer = FileWriter(loader, self._pool, tracker, self._counts, self._lock,
                                  restore_owner=self.restore_owner, read_budget=read_budget)
        self._dir_meta: list[tuple[str, Node]] = []
        self._links: dict[tuple[int, int], str] = {}
        self._pending_links: list[tuple[str, str]] = []

    # --- public ---------------------------------------------------------------------

    def restore_tree(self, tree_id: bytes, target: str, meta: Node | None = None) -> RestoreSummary:
        """Restore the tree ``tree_id`` so that its entries become ``target``'s entries."""
        make_target(target)
        try:
            root_fd = os.open(target, DIR_FLAGS)
        except OSError as exc:
            raise RestoreError(f"cannot open target {target}: {exc.strerror}") from None
        root = Dir(root_fd, "")
        try:
            try:
                self._restore_dir(root, tree_id, "")
            finally:
                self._writer.wait()
            self._make_links(root_fd)
            for rel, node in reversed(self._dir_meta):
                self._apply_meta(root_fd, rel, node, is_dir=True)
            if meta is not None:
                self._apply_meta(root_fd, "", meta, is_dir=True)
        finally:
            self._pool.shutdown(wait=True)
            root.release()
        self.tracker.finish()
        self._take_counts()
        if self.summary.errors:
            raise RestoreError(
                f"{len(self.summary.errors)} item(s) could not be restored; first: {self.summary.errors[0]}"
            )
        return self.summary

    def restore_file_node(self, node: Node, target_path: str) -> RestoreSummary:
        """Restore one file node to an exact path (used for database dumps and single files)."""
        directory, name = os.path.split(os.path.abspath(target_path))
        make_target(directory)
        try:
            d = Dir(os.open(directory, DIR_FLAGS), "")
        except OSError as exc:
            raise RestoreError(f"cannot open target {directory}: {exc.strerror}") from None
        node = Node(**{**_node_fields(node), "name": os.fsencode(name)})
        try:
            self._writer.add(d, node, name)
            self._writer.wait()
        finally:
            self._pool.shutdown(wait=True)
            d.release()
        self._take_counts()
        if self.summary.errors:
            raise RestoreError(self.summary.errors[0])
        return self.summary

    def _take_counts(self) -> None:
        self.summary.files += self._counts.files
        self.summary.bytes += self._counts.bytes
        self._counts.files = self._counts.bytes = 0

    # --- walking --------------------------------------------------------------------

    def _included(self, rel: str, is_dir: bool) -> bool:
        if self._include is None:
            return True
        parts = rel.split("/")
        for i in range(1, len(parts) + 1):
            prefix = "/".join(parts[:i])
            if self._include.match_file(prefix + ("/" if i < len(parts) or is_dir else "")):
                return True
        return False

    def _restore_dir(self, d: Dir, tree_id: bytes, rel: str) -> None:
        nodes = self.loader.load_tree(tree_id)
        check_tree_names(nodes, rel or "/")
        if self.delete_extra and self._include is None:
            self._delete_extra(d, {n.name for n in nodes})
        else:
            self._remove_dead_temps(d)
        for node in nodes:
            child_rel = f"{rel}/{node.display_name}" if rel else node.display_name
            if node.type == "dir":
                child = self._enter_dir(d, node.name, child_rel)
                if child is None:
                    continue
                try:
                    if node.subtree is not None:
                        self._restore_dir(child, node.subtree, child_rel)
                finally:
                    child.release()
                if self._included(child_rel, True) or self._include is None:
                    self._dir_meta.append((child_rel, node))
                with self._lock:
                    self.summary.dirs += 1
            elif not self._included(child_rel, False):
                continue
            elif node.type == "symlink":
                self._make_symlink(d, node, child_rel)
            elif node.type == "file":
                self._schedule_file(d, node, child_rel)

    def _enter_dir(self, parent: Dir, name: bytes, rel: str) -> Dir | None:
        try:
            try:
                st = os.lstat(name, dir_fd=parent.fd)
            except FileNotFoundError:
                os.mkdir(name, 0o700, dir_fd=parent.fd)
            else:
                if not stat.S_ISDIR(st.st_mode):
                    remove(parent.fd, name, st)
                    os.mkdir(name, 0o700, dir_fd=parent.fd)
            return Dir(os.open(name, DIR_FLAGS, dir_fd=parent.fd), rel)
        except OSError as exc:
            self._error(f"{rel}: cannot create directory: {exc.strerror}")
            return None

    def _delete_extra(self, d: Dir, keep: set[bytes]) -> None:
        for entry in os.scandir(d.fd):
            name = os.fsencode(entry.name)
            if name in keep:
                continue
            try:
                remove(d.fd, name, os.lstat(name, dir_fd=d.fd))
                with self._lock:
                    self.summary.deleted += 1
            except OSError as exc:
                self._error(f"{d.rel}/{entry.name}: cannot delete: {exc.strerror}")

    def _remove_dead_temps(self, d: Dir) -> None:
        """Delete temporary files left in this directory by a restore that was killed.

        Temp names carry the writer's pid; one whose process is gone will never
        be renamed into place, so a rerun removes it instead of leaving an
        orphan full-size copy behind.
        """
        for entry in os.scandir(d.fd):
            pid = tmp_owner(os.fsencode(entry.name))
            if pid is not None and pid != os.getpid() and not pid_alive(pid):
                unlink_quiet(d.fd, os.fsencode(entry.name))

    def _make_symlink(self, d: Dir, node: Node, rel: str) -> None:
        tmp = tmp_name(node.name)
        try:
            os.symlink(node.target, tmp, dir_fd=d.fd)
            os.rename(tmp, node.name, src_dir_fd=d.fd, dst_dir_fd=d.fd)
            self._apply_meta(d.fd, node.name, node, is_dir=False, symlink=True)
            with self._lock:
                self.summary.symlinks += 1
        except OSError as exc:
            self._error(f"{rel}: cannot create symlink: {exc.strerror}")

    def _schedule_file(self, d: Dir, node: Node, rel: str) -> None:
        if node.nlink > 1 and node.inode:
            key = (node.dev, node.inode)
            first = self._links.get(key)
            if first is not None:
                self._pending_links.append((first, rel))
                return
            self._links[key] = rel
        self._writer.add(d, node, rel)

    def _make_links(self, root_fd: int) -> None:
        for first, rel in self._pending_links:
            src_dir, src_name = open_parent(root_fd, first)
            dst_dir, dst_name = open_parent(root_fd, rel)
            try:
                unlink_quiet(dst_dir, dst_name)
                os.link(src_name, dst_name, src_dir_fd=src_dir, dst_dir_fd=dst_dir, follow_symlinks=False)
                with self._lock:
                    self.summary.hardlinks += 1
            except OSError as exc:
                self._error(f"{rel}: cannot create hard link: {exc.strerror}")
            finally:
                os.close(src_dir)
                os.close(dst_dir)

    def _apply_meta(self, base_fd: int, rel: str | bytes, node: Node, *, is_dir: bool, symlink: bool = False) -> None:
        try:
            if isinstance(rel, bytes):
                dir_fd, name = base_fd, rel
                close = False
            elif rel == "":
                dir_fd, name, close = base_fd, b".", False
            else:
                dir_fd, name = open_parent(base_fd, rel)
                close = True
            try:
                if self.restore_owner:
                    os.chown(name, *owner(node), dir_fd=dir_fd, follow_symlinks=False)
                if not symlink:
                    os.chmod(name, node.mode, dir_fd=dir_fd)
                os.utime(name, ns=(node.mtime_ns, node.mtime_ns), dir_fd=dir_fd, follow_symlinks=False)
            finally:
                if close:
                    os.close(dir_fd)
        except OSError as exc:
            self._error(f"{rel!r}: cannot set metadata: {exc.strerror}")

    def _error(self, message: str) -> None:
        with self._lock:
            self.summary.errors.append(message)


def _node_fields(node: Node) -> dict[str, Any]:
    return {f: getattr(node, f) for f in Node.__slots__}
