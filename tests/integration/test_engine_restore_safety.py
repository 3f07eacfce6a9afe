"""Restore safety against hostile snapshots: nothing is ever written outside the target.

Each test crafts a snapshot an attacker with the repository key could write
(names with ``..``, ``/``, absolute paths, duplicates, symlinks followed by
directories of the same name), or prepares a target containing planted
symlinks, restores, and then compares everything outside the target with how
it was before.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sitesnap.engine.browse import find_node
from sitesnap.engine.restorer import Restorer
from sitesnap.errors import IntegrityError, RestoreError
from sitesnap.format.blob import DATA
from sitesnap.format.snapshot import Snapshot
from sitesnap.format.tree import Node
from sitesnap.progress import Tracker
from sitesnap.repository.repository import Repository


class Crafter:
    """Writes hand-made trees and snapshots straight into a repository."""

    def __init__(self, repo: Repository) -> None:
        self.repo = repo

    def file(self, name: bytes, data: bytes = b"payload", **kw: Any) -> Node:
        blob_id, _ = self.repo.save_blob(DATA, data)
        return Node(name=name, type="file", mode=0o644, size=len(data), content=[blob_id], **kw)

    def dir(self, name: bytes, children: list[Node]) -> Node:
        tree_id, _ = self.repo.save_tree(list(children))
        return Node(name=name, type="dir", mode=0o755, subtree=tree_id)

    def symlink(self, name: bytes, target: str | bytes) -> Node:
        return Node(name=name, type="symlink", mode=0o777, target=os.fsencode(target))

    def snapshot(self, children: list[Node]) -> Snapshot:
        tree_id, _ = self.repo.save_tree(list(children))
        self.repo.flush()
        snap = Snapshot(time=datetime.now(UTC), tree=tree_id, paths=["/crafted"])
        self.repo.save_snapshot(snap)
        return snap


@pytest.fixture
def craft(make_repo: Callable[..., Repository]) -> Iterator[Crafter]:
    repo = make_repo()
    yield Crafter(repo)
    repo.close()


@pytest.fixture
def area(tmp_path: Path) -> Path:
    """tmp_path/outside holds a sentinel; tmp_path/target is where restores go."""
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "sentinel").write_text("keep me")
    (tmp_path / "target").mkdir()
    return tmp_path


def outside_state(area: Path) -> dict[str, Any]:
    """Everything under ``area`` except the target and repositories: names, types, contents."""
    state: dict[str, Any] = {}
    for dirpath, dirnames, filenames in os.walk(area):
        rel = os.path.relpath(dirpath, area)
        top = rel.split(os.sep)[0]
        if top == "target" or top.startswith("repo"):
            continue
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            if os.path.relpath(p, area) == "target" or (dirpath == str(area) and n.startswith("repo")):
                continue
            st = os.lstat(p)
            content = Path(p).read_bytes() if os.path.isfile(p) and not os.path.islink(p) else None
            state[os.path.relpath(p, area)] = (st.st_mode, content)
    return state


def restore(repo: Repository, snap: Snapshot, target: Path) -> None:
    Restorer(repo, Tracker("restore")).restore_tree(snap.tree, str(target))


@pytest.mark.parametrize(
    "evil",
    [b"..", b".", b"../outside/pwned", b"/tmp/absolute-pwned", b"a/../../pwned", b"nul\0byte", b""],
    ids=["dotdot", "dot", "dotdot-path", "absolute", "nested-dotdot", "nul", "empty"],
)
@pytest.mark.parametrize("kind", ["file", "dir", "symlink"])
def test_unsafe_names_are_refused(craft: Crafter, area: Path, evil: bytes, kind: str) -> None:
    before = outside_state(area)
    if kind == "file":
        node = craft.file(evil, b"pwned")
    elif kind == "dir":
        node = craft.dir(evil, [craft.file(b"pwned", b"pwned")])
    else:
        node = craft.symlink(evil, "/etc/passwd")
    snap = craft.snapshot([craft.file(b"fine"), node])
    with pytest.raises(IntegrityError, match="unsafe name"):
        restore(craft.repo, snap, area / "target")
    assert outside_state(area) == before
    assert not Path("/tmp/absolute-pwned").exists()


def test_unsafe_name_deep_in_the_tree_is_refused(craft: Crafter, area: Path) -> None:
    before = outside_state(area)
    deep = craft.dir(b"a", [craft.dir(b"b", [craft.file(b"../../../outside/sentinel", b"overwritten")])])
    with pytest.raises(IntegrityError):
        restore(craft.repo, craft.snapshot([deep]), area / "target")
    assert outside_state(area) == before


def test_duplicate_names_are_refused(craft: Crafter, area: Path) -> None:
    """A symlink ``a`` to the outside and a directory ``a`` in the same tree."""
    before = outside_state(area)
    snap = craft.snapshot([craft.symlink(b"a", area / "outside"), craft.dir(b"a", [craft.file(b"sentinel", b"x")])])
    with pytest.raises(IntegrityError, match="duplicate name"):
        restore(craft.repo, snap, area / "target")
    assert outside_state(area) == before


def test_symlink_then_directory_in_a_later_snapshot(craft: Crafter, area: Path) -> None:
    """Restore ``a -> outside``, then a snapshot with directory ``a`` over it: the link is replaced."""
    before = outside_state(area)
    first = craft.snapshot([craft.symlink(b"a", area / "outside")])
    restore(craft.repo, first, area / "target")
    assert os.readlink(area / "target" / "a") == str(area / "outside")
    second = craft.snapshot([craft.dir(b"a", [craft.file(b"sentinel", b"overwritten"), craft.file(b"new")])])
    restore(craft.repo, second, area / "target")
    assert not (area / "target" / "a").is_symlink()
    assert (area / "target" / "a" / "sentinel").read_bytes() == b"overwritten"
    assert outside_state(area) == before


def test_symlink_then_file_in_a_later_snapshot(craft: Crafter, area: Path) -> None:
    before = outside_state(area)
    restore(craft.repo, craft.snapshot([craft.symlink(b"f", area / "outside" / "sentinel")]), area / "target")
    restore(craft.repo, craft.snapshot([craft.file(b"f", b"overwritten")]), area / "target")
    assert not (area / "target" / "f").is_symlink()
    assert (area / "target" / "f").read_bytes() == b"overwritten"
    assert outside_state(area) == before


def test_planted_symlinks_in_the_target_are_not_followed(craft: Crafter, area: Path) -> None:
    """Symlinks already in the target where a directory, a file and a hardlink will go."""
    target = area / "target"
    os.symlink(area / "outside", target / "dir")
    os.symlink(area / "outside" / "sentinel", target / "file")
    os.symlink(area / "outside", target / "links")
    before = outside_state(area)
    shared = dict(inode=77, dev=1, nlink=2)
    snap = craft.snapshot([
        craft.dir(b"dir", [craft.file(b"sentinel", b"overwritten"), craft.file(b"created", b"new")]),
        craft.file(b"file", b"overwritten"),
        craft.dir(b"links", [craft.file(b"sentinel", b"hard", **shared)]),
        craft.file(b"twin", b"hard", **shared),
    ])
    restore(craft.repo, snap, target)
    assert outside_state(area) == before
    assert (target / "dir" / "sentinel").read_bytes() == b"overwritten"
    assert (target / "file").read_bytes() == b"overwritten" and not (target / "file").is_symlink()
    assert os.stat(target / "twin").st_ino == os.stat(target / "links" / "sentinel").st_ino


def test_target_that_is_a_symlink_is_refused(craft: Crafter, area: Path) -> None:
    link = area / "linked-target"
    os.symlink(area / "outside", link)
    before = outside_state(area)
    with pytest.raises(RestoreError):
        restore(craft.repo, craft.snapshot([craft.file(b"sentinel", b"overwritten")]), link)
    assert (area / "outside" / "sentinel").read_text() == "keep me"
    assert {k: v for k, v in outside_state(area).items() if k != "linked-target"} == {
        k: v for k, v in before.items() if k != "linked-target"
    }


def test_huge_names_fail_cleanly(craft: Crafter, area: Path) -> None:
    before = outside_state(area)
    snap = craft.snapshot([craft.file(b"x" * 5000, b"data"), craft.dir(b"y" * 300, [])])
    with pytest.raises(RestoreError):
        restore(craft.repo, snap, area / "target")
    assert outside_state(area) == before


def test_sizes_that_lie_are_detected(craft: Crafter, area: Path) -> None:
    node = craft.file(b"f", b"short")
    node.size = 10_000
    with pytest.raises(RestoreError, match="restored 5 bytes"):
        restore(craft.repo, craft.snapshot([node]), area / "target")
    assert not (area / "target" / "f").exists()


def test_find_node_refuses_unsafe_names(craft: Crafter, area: Path) -> None:
    """``restore --path /..`` on a snapshot holding a file named ``..`` must not resolve."""
    snap = craft.snapshot([craft.file(b"..", b"pwned"), craft.dir(b"ok", [craft.file(b".", b"x")])])
    with pytest.raises(IntegrityError):
        find_node(craft.repo, snap.tree, "/..")
    with pytest.raises(IntegrityError):
        find_node(craft.repo, snap.tree, "/ok/.")


def test_cli_restore_of_unsafe_path_leaves_parent_alone(
    craft: Crafter, area: Path, run_cli: Callable[..., Any]
) -> None:
    craft.snapshot([craft.file(b"..", b"pwned"), craft.file(b"fine", b"ok")])
    before = outside_state(area)
    storage_root = craft.repo.storage.properties.url
    result = run_cli("restore", "latest", "--path", "/..", "--target", str(area / "target"), repo=storage_root)
    assert result.code == 14, result.stderr
    assert "Traceback" not in result.stderr
    assert outside_state(area) == before
    assert (area / "target").is_dir()
