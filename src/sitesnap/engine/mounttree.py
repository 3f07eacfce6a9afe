"""The inode table behind the FUSE mount: a repository seen as a directory tree.

Layout (as restic's mount)::

    /snapshots/<time>/<snapshot tree>   one directory per snapshot, named by its UTC time
    /ids/<short id>     -> ../snapshots/<time>
    /tags/<tag>/<time>  -> ../../snapshots/<time>
    /latest/<snapshot tree>             the newest snapshot

Two snapshots taken in the same second get ``<time>-<short id>``.  Below a
snapshot the directories are its trees, loaded on first use (``lookup`` or
``readdir``), so mounting a repository with thousands of snapshots reads only
the snapshot list.  Inodes are handed out in the order entries are first
seen and kept for the life of the mount.  Entries whose names could escape
the tree (``..``, ``/``) are left out.

No FUSE or IO here beyond the injected tree loader: the table is tested
without a kernel mount.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass, field
from datetime import UTC
from typing import Protocol

from sitesnap.format.snapshot import Snapshot
from sitesnap.format.tree import Node, safe_name

__all__ = ["ROOT_INODE", "Entry", "InodeTable", "TreeLoader", "snapshot_dir_names"]

ROOT_INODE = 1


class TreeLoader(Protocol):
    def load_tree(self, tree_id: bytes) -> list[Node]: ...


@dataclass
class Entry:
    """One inode: a virtual directory, a tree directory, a file or a symlink."""

    inode: int
    kind: str  # "dir", "file" or "symlink"
    mode: int
    mtime_ns: int
    uid: int = 0
    gid: int = 0
    size: int = 0
    target: bytes = b""
    node: Node | None = None
    subtree: bytes | None = None  # a tree directory's children, not loaded yet
    children: dict[bytes, int] | None = field(default=None)

    @property
    def st_mode(self) -> int:
        kind = {"dir": stat.S_IFDIR, "symlink": stat.S_IFLNK}.get(self.kind, stat.S_IFREG)
        return kind | stat.S_IMODE(self.mode)


def snapshot_dir_names(snapshots: list[Snapshot]) -> dict[str, Snapshot]:
    """Directory name -> snapshot, oldest first; the time, with the short ID added on a clash."""
    names: dict[str, Snapshot] = {}
    seen: dict[str, int] = {}
    stamps = [s.time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") for s in snapshots]
    for stamp in stamps:
        seen[stamp] = seen.get(stamp, 0) + 1
    for stamp, snap in zip(stamps, snapshots, strict=True):
        names[stamp if seen[stamp] == 1 else f"{stamp}-{snap.short_id}"] = snap
    return names


def _time_ns(snap: Snapshot) -> int:
    return int(snap.time.timestamp() * 1_000_000_000)


class InodeTable:
    """Inodes of one mount; not thread-safe (the FUSE loop calls it from one thread)."""

    def __init__(self, loader: TreeLoader, snapshots: list[Snapshot]) -> None:
        self._loader = loader
        self._entries: dict[int, Entry] = {}
        now = _time_ns(snapshots[-1]) if snapshots else 0
        root = self._virtual_dir(now)
        assert root.inode == ROOT_INODE
        by_name = snapshot_dir_names(snapshots)
        snaps_dir = self._virtual_dir(now)
        self._link(root, b"snapshots", snaps_dir)
        ids_dir, tags_dir = self._virtual_dir(now), self._virtual_dir(now)
        self._link(root, b"ids", ids_dir)
        self._link(root, b"tags", tags_dir)
        for name, snap in by_name.items():
            raw = name.encode()
            self._link(snaps_dir, raw, self._snapshot_dir(snap))
            self._link(ids_dir, snap.short_id.encode(), self._symlink(b"../snapshots/" + raw, _time_ns(snap)))
            for tag in snap.tags:
                tag_dir = self._tag_dir(tags_dir, tag.encode(), now)
                self._link(tag_dir, raw, self._symlink(b"../../snapshots/" + raw, _time_ns(snap)))
        if snapshots:
            self._link(root, b"latest", self._snapshot_dir(snapshots[-1]))

    # --- building --------------------------------------------------------------

    def _add(self, entry_kind: str, mode: int, mtime_ns: int, **kwargs: object) -> Entry:
        entry = Entry(len(self._entries) + 1, entry_kind, mode, mtime_ns, **kwargs)  # type: ignore[arg-type]
        self._entries[entry.inode] = entry
        return entry

    def _virtual_dir(self, mtime_ns: int) -> Entry:
        return self._add("dir", 0o555, mtime_ns, children={})

    def _snapshot_dir(self, snap: Snapshot) -> Entry:
        return self._add("dir", 0o555, _time_ns(snap), subtree=snap.tree)

    def _symlink(self, target: bytes, mtime_ns: int) -> Entry:
        return self._add("symlink", 0o777, mtime_ns, target=target, size=len(target))

    def _tag_dir(self, tags_dir: Entry, tag: bytes, mtime_ns: int) -> Entry:
        assert tags_dir.children is not None
        found = tags_dir.children.get(tag)
        if found is not None:
            return self._entries[found]
        made = self._virtual_dir(mtime_ns)
        self._link(tags_dir, tag, made)
        return made

    @staticmethod
    def _link(parent: Entry, name: bytes, child: Entry) -> None:
        assert parent.children is not None
        parent.children[name] = child.inode

    def _from_node(self, node: Node) -> Entry:
        common = {"uid": node.uid, "gid": node.gid, "node": node}
        if node.type == "dir":
            return self._add("dir", node.mode, node.mtime_ns, subtree=node.subtree, children=None if node.subtree
                             else {}, **common)
        if node.type == "symlink":
            return self._add("symlink", node.mode or 0o777, node.mtime_ns, target=node.target,
                             size=len(node.target), **common)
        return self._add("file", node.mode, node.mtime_ns, size=node.size, **common)

    # --- queries ---------------------------------------------------------------

    def get(self, inode: int) -> Entry | None:
        return self._entries.get(inode)

    def children(self, entry: Entry) -> dict[bytes, int]:
        """Name -> inode of a directory's entries, loading its tree on first use."""
        if entry.children is None:
            loaded: dict[bytes, int] = {}
            assert entry.subtree is not None
            for node in self._loader.load_tree(entry.subtree):
                if safe_name(node.name):
                    loaded[node.name] = self._from_node(node).inode
            entry.children = loaded
        return entry.children

    def lookup(self, parent: int, name: bytes) -> Entry | None:
        entry = self._entries.get(parent)
        if entry is None or entry.kind != "dir":
            return None
        inode = self.children(entry).get(name)
        return None if inode is None else self._entries[inode]

    def __len__(self) -> int:
        return len(self._entries)
