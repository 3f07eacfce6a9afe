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
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import stat
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

import pathspec

from sitesnap.engine.restoretarget import make_target
from sitesnap.errors import IntegrityError, RestoreError
from sitesnap.format.blob import DATA
from sitesnap.format.tree import Node, safe_name
from sitesnap.process import pid_alive
from sitesnap.progress import Tracker

__all__ = ["BlobLoader", "RestoreSummary", "Restorer"]

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class BlobLoader(Protocol):
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


class _Dir:
    """An open directory descriptor shared by pending file writes; closed at refcount 0."""

    def __init__(self, fd: int, rel: str) -> None:
        self.fd = fd
        self.rel = rel
        self._refs = 1
        self._lock = threading.Lock()

    def acquire(self) -> None:
        with self._lock:
            self._refs += 1

    def release(self) -> None:
        with self._lock:
            self._refs -= 1
            if self._refs == 0:
                os.close(self.fd)


def check_tree_names(nodes: list[Node], where: str) -> None:
    seen: set[bytes] = set()
    for n in nodes:
        if not safe_name(n.name):
            raise IntegrityError(f"{where}: unsafe name {n.name!r} in snapshot (refused)")
        if n.name in seen:
            raise IntegrityError(f"{where}: duplicate name {n.name!r} in snapshot (refused)")
        seen.add(n.name)


_SMALL_FILE = 64 << 10
"""Files up to this size are written in batches of :data:`_BATCH_FILES` per worker task."""
_BATCH_FILES = 32


class Restorer:
    def __init__(
        self,
        loader: BlobLoader,
        tracker: Tracker,
        *,
        workers: int = 0,
        include: list[str] | None = None,
        delete_extra: bool = False,
        restore_owner: bool | None = None,
        max_files_in_flight: int = 64,
    ) -> None:
        self.loader = loader
        self.tracker = tracker
        self.summary = RestoreSummary()
        self.delete_extra = delete_extra
        self.restore_owner = os.geteuid() == 0 if restore_owner is None else restore_owner
        self._include = pathspec.PathSpec.from_lines("gitwildmatch", include) if include else None
        self._pool = ThreadPoolExecutor(
            max_workers=workers or max(2, os.cpu_count() or 2), thread_name_prefix="sitesnap-restore"
        )
        self._slots = threading.BoundedSemaphore(max_files_in_flight)
        self._lock = threading.Lock()
        self._futures: list[Future[None]] = []
        self._dir_meta: list[tuple[str, Node]] = []
        self._links: dict[tuple[int, int], str] = {}
        self._pending_links: list[tuple[str, str]] = []

    # --- public ---------------------------------------------------------------------

    def restore_tree(self, tree_id: bytes, target: str, meta: Node | None = None) -> RestoreSummary:
        """Restore the tree ``tree_id`` so that its entries become ``target``'s entries."""
        make_target(target)
        try:
            root_fd = os.open(target, _DIR_FLAGS)
        except OSError as exc:
            raise RestoreError(f"cannot open target {target}: {exc.strerror}") from None
        root = _Dir(root_fd, "")
        try:
            self._restore_dir(root, tree_id, "")
            self._wait()
            self._make_links(root_fd)
            for rel, node in reversed(self._dir_meta):
                self._apply_meta(root_fd, rel, node, is_dir=True)
            if meta is not None:
                self._apply_meta(root_fd, "", meta, is_dir=True)
        finally:
            self._pool.shutdown(wait=True)
            root.release()
        self.tracker.finish()
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
            d = _Dir(os.open(directory, _DIR_FLAGS), "")
        except OSError as exc:
            raise RestoreError(f"cannot open target {directory}: {exc.strerror}") from None
        node = Node(**{**_node_fields(node), "name": os.fsencode(name)})
        d.acquire()
        self._slots.acquire()
        try:
            self._write_batch(d, [(node, name)])
        finally:
            self._pool.shutdown(wait=True)
            d.release()
        if self.summary.errors:
            raise RestoreError(self.summary.errors[0])
        return self.summary

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

    def _restore_dir(self, d: _Dir, tree_id: bytes, rel: str) -> None:
        nodes = self.loader.load_tree(tree_id)
        check_tree_names(nodes, rel or "/")
        if self.delete_extra and self._include is None:
            self._delete_extra(d, {n.name for n in nodes})
        else:
            self._remove_dead_temps(d)
        small: list[tuple[Node, str]] = []
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
                self._schedule_file(d, node, child_rel, small)
        self._flush_small(d, small)

    def _enter_dir(self, parent: _Dir, name: bytes, rel: str) -> _Dir | None:
        try:
            try:
                st = os.lstat(name, dir_fd=parent.fd)
            except FileNotFoundError:
                os.mkdir(name, 0o700, dir_fd=parent.fd)
            else:
                if not stat.S_ISDIR(st.st_mode):
                    _remove(parent.fd, name, st)
                    os.mkdir(name, 0o700, dir_fd=parent.fd)
            return _Dir(os.open(name, _DIR_FLAGS, dir_fd=parent.fd), rel)
        except OSError as exc:
            self._error(f"{rel}: cannot create directory: {exc.strerror}")
            return None

    def _delete_extra(self, d: _Dir, keep: set[bytes]) -> None:
        for entry in os.scandir(d.fd):
            name = os.fsencode(entry.name)
            if name in keep:
                continue
            try:
                _remove(d.fd, name, os.lstat(name, dir_fd=d.fd))
                with self._lock:
                    self.summary.deleted += 1
            except OSError as exc:
                self._error(f"{d.rel}/{entry.name}: cannot delete: {exc.strerror}")

    def _remove_dead_temps(self, d: _Dir) -> None:
        """Delete temporary files left in this directory by a restore that was killed.

        Temp names carry the writer's pid; one whose process is gone will never
        be renamed into place, so a rerun removes it instead of leaving an
        orphan full-size copy behind.
        """
        for entry in os.scandir(d.fd):
            pid = _tmp_owner(os.fsencode(entry.name))
            if pid is not None and pid != os.getpid() and not pid_alive(pid):
                _unlink_quiet(d.fd, os.fsencode(entry.name))

    def _make_symlink(self, d: _Dir, node: Node, rel: str) -> None:
        tmp = _tmp_name(node.name)
        try:
            os.symlink(node.target, tmp, dir_fd=d.fd)
            os.rename(tmp, node.name, src_dir_fd=d.fd, dst_dir_fd=d.fd)
            self._apply_meta(d.fd, node.name, node, is_dir=False, symlink=True)
            with self._lock:
                self.summary.symlinks += 1
        except OSError as exc:
            self._error(f"{rel}: cannot create symlink: {exc.strerror}")

    def _schedule_file(self, d: _Dir, node: Node, rel: str, small: list[tuple[Node, str]]) -> None:
        if node.nlink > 1 and node.inode:
            key = (node.dev, node.inode)
            with self._lock:
                first = self._links.get(key)
                if first is None:
                    self._links[key] = rel
            if first is not None:
                self._pending_links.append((first, rel))
                return
        if node.size <= _SMALL_FILE:
            # Small files go to a worker in batches: one hand-over (a Future, a semaphore,
            # GIL switches) per file cost more than writing it, yet the file system's own
            # work (create, write, rename) still runs on both cores.
            small.append((node, rel))
            if len(small) >= _BATCH_FILES:
                self._flush_small(d, small)
            return
        self._submit(d, [(node, rel)])

    def _flush_small(self, d: _Dir, small: list[tuple[Node, str]]) -> None:
        if small:
            self._submit(d, list(small))
            small.clear()

    def _submit(self, d: _Dir, batch: list[tuple[Node, str]]) -> None:
        d.acquire()
        self._slots.acquire()
        fut = self._pool.submit(self._write_batch, d, batch)
        with self._lock:
            self._futures.append(fut)

    def _write_batch(self, d: _Dir, batch: list[tuple[Node, str]]) -> None:
        try:
            for node, rel in batch:
                self._write_one(d, node, rel)
        finally:
            self._slots.release()
            d.release()

    def _write_one(self, d: _Dir, node: Node, rel: str) -> None:
        tmp = _tmp_name(node.name)
        try:
            fd = os.open(tmp, _FILE_FLAGS, 0o600, dir_fd=d.fd)
            try:
                written = 0
                for data in self.loader.load_blobs(DATA, node.content):
                    view = memoryview(data)
                    while view:
                        n = os.write(fd, view)
                        view = view[n:]
                    written += len(data)
                    self.tracker.update(bytes_done=len(data))
                if written != node.size:
                    raise IntegrityError(f"{rel}: restored {written} bytes, snapshot says {node.size}")
                _set_file_meta(fd, node, self.restore_owner)
            finally:
                os.close(fd)
            os.rename(tmp, node.name, src_dir_fd=d.fd, dst_dir_fd=d.fd)
            with self._lock:
                self.summary.files += 1
                self.summary.bytes += node.size
            self.tracker.update(files_done=1, current=rel)
        except IsADirectoryError:
            self._replace_dir_then_retry(d, node, rel, tmp)
        except (OSError, IntegrityError) as exc:
            _unlink_quiet(d.fd, tmp)
            msg = exc.strerror if isinstance(exc, OSError) else exc.message
            self._error(f"{rel}: {msg}")

    def _replace_dir_then_retry(self, d: _Dir, node: Node, rel: str, tmp: bytes) -> None:
        try:
            _remove(d.fd, node.name, os.lstat(node.name, dir_fd=d.fd))
            os.rename(tmp, node.name, src_dir_fd=d.fd, dst_dir_fd=d.fd)
            with self._lock:
                self.summary.files += 1
                self.summary.bytes += node.size
        except OSError as exc:
            _unlink_quiet(d.fd, tmp)
            self._error(f"{rel}: {exc.strerror}")

    def _wait(self) -> None:
        while True:
            with self._lock:
                futures, self._futures = self._futures, []
            if not futures:
                return
            for fut in futures:
                fut.result()

    def _make_links(self, root_fd: int) -> None:
        for first, rel in self._pending_links:
            src_dir, src_name = _open_parent(root_fd, first)
            dst_dir, dst_name = _open_parent(root_fd, rel)
            try:
                _unlink_quiet(dst_dir, dst_name)
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
                dir_fd, name = _open_parent(base_fd, rel)
                close = True
            try:
                if self.restore_owner:
                    os.chown(name, *_owner(node), dir_fd=dir_fd, follow_symlinks=False)
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


_TMP_COUNTER = itertools.count()
_TMP_PREFIX = b".sitesnap-tmp-"


def _tmp_owner(name: bytes) -> int | None:
    """The pid in a restorer temp name (``.sitesnap-tmp-<pid>-<n>-<name>``), else None."""
    if not name.startswith(_TMP_PREFIX):
        return None
    pid, _, rest = name[len(_TMP_PREFIX):].partition(b"-")
    return int(pid) if pid.isdigit() and rest else None


def _tmp_name(name: bytes) -> bytes:
    """A temporary name beside ``name``; unique per process (pid + counter), created with O_EXCL."""
    return _TMP_PREFIX + b"%d-%d-" % (os.getpid(), next(_TMP_COUNTER)) + name[:100]


def _unlink_quiet(dir_fd: int, name: bytes) -> None:
    with contextlib.suppress(OSError):
        os.unlink(name, dir_fd=dir_fd)


def _remove(dir_fd: int, name: bytes, st: os.stat_result) -> None:
    if stat.S_ISDIR(st.st_mode):
        fd = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
        try:
            for entry in os.scandir(fd):
                child = os.fsencode(entry.name)
                _remove(fd, child, os.lstat(child, dir_fd=fd))
        finally:
            os.close(fd)
        os.rmdir(name, dir_fd=dir_fd)
    else:
        os.unlink(name, dir_fd=dir_fd)


def _open_parent(root_fd: int, rel: str) -> tuple[int, bytes]:
    """Open the directory holding ``rel`` without following any symlink; returns (fd, name)."""
    parts = [os.fsencode(p) for p in rel.split("/")]
    fd = os.dup(root_fd)
    try:
        for part in parts[:-1]:
            nfd = os.open(part, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = nfd
    except OSError:
        os.close(fd)
        raise
    return fd, parts[-1]


def _owner(node: Node) -> tuple[int, int]:
    return _owner_of(node.user, node.group, node.uid, node.gid)


@functools.lru_cache(maxsize=256)
def _owner_of(user: str, group: str, default_uid: int, default_gid: int) -> tuple[int, int]:
    """Names win over numbers when this system knows them (restoring on another machine)."""
    import grp
    import pwd

    uid, gid = default_uid, default_gid
    if user:
        with contextlib.suppress(KeyError):
            uid = pwd.getpwnam(user).pw_uid
    if group:
        with contextlib.suppress(KeyError):
            gid = grp.getgrnam(group).gr_gid
    return uid, gid


def _set_file_meta(fd: int, node: Node, owner: bool) -> None:
    if owner:
        os.fchown(fd, *_owner(node))
    os.fchmod(fd, node.mode)
    os.utime(fd, ns=(node.mtime_ns, node.mtime_ns))
