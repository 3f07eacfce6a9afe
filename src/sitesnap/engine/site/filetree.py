"""Restoring a directory-tree source: plan what changes, then restore beside the target and swap.

Paths the source's excludes cover were never backed up, so an in-place
restore neither counts them as deletions nor removes them: they are carried
over into the restored tree.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path
from typing import Any

from sitesnap.engine.browse import find_node, walk_tree
from sitesnap.engine.restorer import Restorer
from sitesnap.errors import RestoreError
from sitesnap.format.snapshot import Snapshot
from sitesnap.format.tree import Node
from sitesnap.progress import Tracker
from sitesnap.repository.repository import Repository
from sitesnap.sources.files import Excluder
from sitesnap.sources.kind import TreeSource

__all__ = ["plan_tree", "restore_tree"]


def plan_tree(repo: Repository, snapshot: Snapshot, kind: TreeSource,
              target: str) -> tuple[int, int, int, int, int]:
    """(size, files overwritten, created, present only in the target, unchanged) for restoring ``kind`` to ``target``.

    A file already there with the snapshot's size and modification time is
    counted as unchanged, not as overwritten (the test a backup uses too).
    """
    node = find_node(repo, snapshot.tree, kind.tree_path())
    wanted: dict[str, Node] = {}
    if node.subtree is not None:
        wanted = {p.lstrip("/"): n for p, n in walk_tree(repo, node.subtree) if n.type != "dir"}
    existing = set(_existing_files(Path(target), kind.excluder()))
    both = existing & wanted.keys()
    same = sum(1 for rel in both if _same_file(Path(target) / rel, wanted[rel]))
    return (sum(n.size for n in wanted.values()), len(both) - same, len(wanted.keys() - existing),
            len(existing - wanted.keys()), same)


def _same_file(path: Path, node: Node) -> bool:
    """True when ``path`` is a regular file with ``node``'s size and modification time."""
    try:
        st = path.lstat()
    except OSError:
        return False
    return node.type == "file" and stat.S_ISREG(st.st_mode) and st.st_size == node.size \
        and st.st_mtime_ns == node.mtime_ns


def _existing_files(root: Path, excluder: Excluder) -> list[str]:
    """Relative paths of files and symlinks under ``root`` that the source's excludes do not cover."""
    found: list[str] = []
    if not root.is_dir():
        return found
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        rel_of = (lambda n: n) if rel_dir == "." else (lambda n, d=rel_dir: f"{d}/{n}")
        dirnames[:] = [d for d in dirnames if not excluder.excluded(rel_of(d), True)]
        for fname in filenames:
            if not excluder.excluded(rel_of(fname), False):
                found.append(rel_of(fname))
    return found


def _carry_over_excluded(old: Path, new: Path, excluder: Excluder) -> None:
    """Move what the excludes kept out of the snapshot (caches, temp files) into the new tree.

    Excluded paths were never backed up, so an in-place restore must not
    delete them.
    """
    for dirpath, dirnames, filenames in os.walk(old):
        rel_dir = os.path.relpath(dirpath, old)
        rel_of = (lambda n: n) if rel_dir == "." else (lambda n, d=rel_dir: f"{d}/{n}")
        keep_dirs = []
        for d in dirnames:
            if excluder.excluded(rel_of(d), True):
                _move_into(old / rel_of(d), new / rel_of(d))
            else:
                keep_dirs.append(d)
        dirnames[:] = keep_dirs
        for fname in filenames:
            if excluder.excluded(rel_of(fname), False):
                _move_into(old / rel_of(fname), new / rel_of(fname))


def _move_into(src: Path, dst: Path) -> None:
    if dst.exists() or dst.is_symlink():
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    os.rename(src, dst)


def restore_tree(
    repo: Repository, node: Node, source: str, target: Path, exists: bool, tracker: Tracker, excluder: Excluder
) -> dict[str, Any]:
    """Restore into a fresh sibling directory, then swap it in: a failure leaves the old tree."""
    if node.subtree is None:
        raise RestoreError(f"source {source}: the snapshot holds no directory")
    if not exists:
        summary = Restorer(repo, tracker).restore_tree(node.subtree, str(target), meta=node)
        return summary.to_json()
    staging = target.with_name(f".{target.name}.sitesnap-restore")
    old = target.with_name(f".{target.name}.sitesnap-old")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.rmtree(old, ignore_errors=True)
    try:
        summary = Restorer(repo, tracker).restore_tree(node.subtree, str(staging), meta=node)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    try:
        os.rename(target, old)
    except OSError:
        # A mount point or busy directory cannot be moved: write in place instead.
        shutil.rmtree(staging, ignore_errors=True)
        summary = Restorer(repo, tracker).restore_tree(node.subtree, str(target), meta=node)
        return {**summary.to_json(), "method": "in-place"}
    _carry_over_excluded(old, staging, excluder)
    os.rename(staging, target)
    shutil.rmtree(old, ignore_errors=True)
    return {**summary.to_json(), "method": "swap"}
