"""The file-tree source: what a directory walk sees and how a node is described.

This module knows nothing of repositories: it turns ``os.DirEntry`` objects
into :class:`~sitesnap.format.tree.Node` metadata and decides what to skip.
Reading file contents and saving blobs is the archiver's job (engine layer).
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from sitesnap.format.tree import Node
from sitesnap.sources.kind import SourceSpec, TreeSource, spec_field

if TYPE_CHECKING:
    import pathspec

__all__ = ["Excluder", "FilesKind", "ScanWarning", "node_from_stat", "scan_dir"]


@dataclass(frozen=True)
class ScanWarning:
    path: str
    message: str


@lru_cache(maxsize=1024)
def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return ""


@lru_cache(maxsize=1024)
def _group(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return ""


def node_from_stat(name: bytes, st: os.stat_result) -> Node | None:
    """Metadata node for a stat result, or None for special files (sockets, fifos, devices)."""
    mode = st.st_mode
    if stat.S_ISREG(mode):
        kind = "file"
    elif stat.S_ISDIR(mode):
        kind = "dir"
    elif stat.S_ISLNK(mode):
        kind = "symlink"
    else:
        return None
    return Node(
        name=name,
        type=kind,
        mode=stat.S_IMODE(mode),
        uid=st.st_uid,
        gid=st.st_gid,
        user=_user(st.st_uid),
        group=_group(st.st_gid),
        mtime_ns=st.st_mtime_ns,
        ctime_ns=st.st_ctime_ns,
        inode=st.st_ino,
        dev=st.st_dev,
        nlink=st.st_nlink,
        size=st.st_size if kind == "file" else 0,
    )


@dataclass
class Excluder:
    """gitignore-style excludes, matched against paths relative to the backup root.

    ``cache/`` matches a directory named cache anywhere, ``/cache`` only at the
    root, ``*.tmp`` any file ending in .tmp, ``!keep.tmp`` re-includes.
    """

    patterns: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._spec: pathspec.PathSpec[Any] | None = None
        if self.patterns:  # pathspec loads only for backups that exclude something
            import pathspec

            self._spec = pathspec.PathSpec.from_lines("gitwildmatch", self.patterns)

    def excluded(self, rel_path: str, is_dir: bool) -> bool:
        if self._spec is None:
            return False
        return self._spec.match_file(rel_path + "/" if is_dir else rel_path)


def scan_dir(
    path: bytes,
    rel: str,
    excluder: Excluder,
    warn: Callable[[ScanWarning], None],
    one_file_system_dev: int | None = None,
) -> Iterable[tuple[os.DirEntry[bytes], Node]]:
    """Entries of one directory with their metadata nodes, excluded and special ones dropped.

    Unreadable entries produce a warning and are skipped, never an exception:
    one unreadable file must not fail a whole site's backup.
    """
    try:
        with os.scandir(path) as it:
            entries = list(it)
    except OSError as exc:
        warn(ScanWarning(os.fsdecode(path), f"cannot read directory: {exc.strerror}"))
        return
    for entry in entries:
        name = entry.name
        child_rel = f"{rel}/{os.fsdecode(name)}" if rel else os.fsdecode(name)
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError as exc:
            warn(ScanWarning(child_rel, f"cannot stat: {exc.strerror}"))
            continue
        is_dir = stat.S_ISDIR(st.st_mode)
        if excluder.excluded(child_rel, is_dir):
            continue
        node = node_from_stat(name, st)
        if node is None:
            warn(ScanWarning(child_rel, "special file (device, socket or fifo) skipped"))
            continue
        if is_dir and one_file_system_dev is not None and st.st_dev != one_file_system_dev:
            continue
        yield entry, node


class FilesKind(TreeSource):
    """The ``files`` source kind: a directory tree with gitignore-style excludes."""

    type: ClassVar[str] = "files"
    section: ClassVar[str] = "files"

    def __init__(self, name: str, path: str | os.PathLike[str], exclude: Iterable[str] = ()) -> None:
        self.name = name
        self.path = Path(path)
        self.exclude = list(exclude)

    @classmethod
    def from_config(cls, spec: SourceSpec) -> FilesKind:
        return cls(spec.name, spec_field(spec, "path"), getattr(spec, "exclude", None) or ())

    def excluder(self) -> Excluder:
        """A fresh matcher for this source's excludes."""
        return Excluder(list(self.exclude))
