"""File-system primitives of the restorer: descriptor-relative, never following a symlink.

Everything here works relative to an open directory descriptor with
``O_NOFOLLOW``, so neither a symlink in the snapshot nor one already on disk
leads a write out of the restore target (docs/format/v1.md, "Restore safety").
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import stat
import threading

from sitesnap.errors import IntegrityError
from sitesnap.format.tree import Node, safe_name

__all__ = [
    "DIR_FLAGS",
    "FILE_FLAGS",
    "Dir",
    "check_tree_names",
    "open_parent",
    "owner",
    "process_umask",
    "remove",
    "set_file_meta",
    "tmp_name",
    "tmp_owner",
    "unlink_quiet",
]

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class Dir:
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
    """Refuse a tree with a name that is not one safe path segment, or with a name twice."""
    seen: set[bytes] = set()
    for n in nodes:
        if not safe_name(n.name):
            raise IntegrityError(f"{where}: unsafe name {n.name!r} in snapshot (refused)")
        if n.name in seen:
            raise IntegrityError(f"{where}: duplicate name {n.name!r} in snapshot (refused)")
        seen.add(n.name)


_TMP_COUNTER = itertools.count()
_TMP_PREFIX = b".sitesnap-tmp-"


def tmp_owner(name: bytes) -> int | None:
    """The pid in a restorer temp name (``.sitesnap-tmp-<pid>-<n>-<name>``), else None."""
    if not name.startswith(_TMP_PREFIX):
        return None
    pid, _, rest = name[len(_TMP_PREFIX):].partition(b"-")
    return int(pid) if pid.isdigit() and rest else None


def tmp_name(name: bytes) -> bytes:
    """A temporary name beside ``name``; unique per process (pid + counter), created with O_EXCL."""
    return _TMP_PREFIX + b"%d-%d-" % (os.getpid(), next(_TMP_COUNTER)) + name[:100]


def unlink_quiet(dir_fd: int, name: bytes) -> None:
    with contextlib.suppress(OSError):
        os.unlink(name, dir_fd=dir_fd)


def remove(dir_fd: int, name: bytes, st: os.stat_result) -> None:
    """Remove ``name`` (a whole directory tree too) without following symlinks."""
    if stat.S_ISDIR(st.st_mode):
        fd = os.open(name, DIR_FLAGS, dir_fd=dir_fd)
        try:
            for entry in os.scandir(fd):
                child = os.fsencode(entry.name)
                remove(fd, child, os.lstat(child, dir_fd=fd))
        finally:
            os.close(fd)
        os.rmdir(name, dir_fd=dir_fd)
    else:
        os.unlink(name, dir_fd=dir_fd)


def open_parent(root_fd: int, rel: str) -> tuple[int, bytes]:
    """Open the directory holding ``rel`` without following any symlink; returns (fd, name)."""
    parts = [os.fsencode(p) for p in rel.split("/")]
    fd = os.dup(root_fd)
    try:
        for part in parts[:-1]:
            nfd = os.open(part, DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = nfd
    except OSError:
        os.close(fd)
        raise
    return fd, parts[-1]


def owner(node: Node) -> tuple[int, int]:
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


def process_umask() -> int:
    """This process's umask, read without changing it (``os.umask`` would, for every thread).

    Where it cannot be read, 0o777 is returned: files are then created with
    no permissions and every file gets its mode set explicitly.
    """
    try:
        with open("/proc/self/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o777


def set_file_meta(fd: int, node: Node, restore_owner: bool, created_mode: int = -1) -> None:
    """Owner, mode and times of a written file; ``created_mode`` (what the file got at creation) spares a chmod."""
    if restore_owner:
        os.fchown(fd, *owner(node))
    if node.mode & 0o7777 != created_mode:
        os.fchmod(fd, node.mode)
    os.utime(fd, ns=(node.mtime_ns, node.mtime_ns))
