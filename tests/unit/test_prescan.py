"""The prescan lists directories ahead of the archiver; a taken listing equals a fresh scan."""

from __future__ import annotations

import os
from pathlib import Path

from sitesnap.engine.backup import backup_paths
from sitesnap.repository.repository import Repository
from sitesnap.sources.files import Excluder, scan_dir
from sitesnap.sources.prescan import Prescan
from sitesnap.storage.local import LocalStorage


def _tree(root: Path) -> Path:
    for d in ("a/b/c", "a/d", "cache/x", "e"):
        (root / d).mkdir(parents=True)
    for i, d in enumerate(("a", "a/b", "a/b/c", "a/d", "cache/x", "e", ".")):
        (root / d / f"f{i}.txt").write_text(f"file {i}\n")
        (root / d / f"f{i}.tmp").write_text("scratch\n")
    (root / "a" / "link").symlink_to("b/c")
    os.mkfifo(root / "a" / "pipe")
    return root


def _fresh(path: bytes, rel: str, excludes: list[str]) -> tuple[list[tuple[bytes, str]], list[str]]:
    warnings: list[str] = []
    listing = [(e.path, n.type) for e, n in scan_dir(path, rel, Excluder(excludes), lambda w: warnings.append(w.path))]
    return listing, warnings


def test_listings_equal_fresh_scans_and_are_handed_out_once(tmp_path: Path) -> None:
    root = _tree(tmp_path / "site")
    excludes = ["*.tmp", "cache/"]
    with Prescan([str(root)], excludes) as prescan:
        prescan._thread.join(10)  # let the walk finish
        seen = 0
        for dirpath, _, _ in os.walk(root):
            rel = os.path.relpath(dirpath, root)
            rel = "" if rel == "." else rel
            if rel.startswith("cache"):
                assert prescan.take(os.fsencode(dirpath)) is None  # excluded: never listed
                continue
            taken = prescan.take(os.fsencode(dirpath))
            assert taken is not None, dirpath
            listing, warnings = taken
            assert ([(e.path, n.type) for e, n in listing], [w.path for w in warnings]) == _fresh(
                os.fsencode(dirpath), rel, excludes)
            assert prescan.take(os.fsencode(dirpath)) is None
            seen += 1
        assert seen == 6  # the root, a, a/b, a/b/c, a/d and e


def test_limit_and_stop_bound_the_walk(tmp_path: Path) -> None:
    root = tmp_path / "many"
    for i in range(30):
        (root / f"d{i:02}").mkdir(parents=True)
        (root / f"d{i:02}" / "f").write_text("x")
    with Prescan([str(root)], limit=35) as prescan:
        prescan._thread.join(10)
        listed = [d for d in range(30) if prescan.take(os.fsencode(root / f"d{d:02}")) is not None]
    # The root's 30 entries, then directories until the limit is reached: a few, not all.
    assert 0 < len(listed) < 30
    stopped = Prescan([str(root)])
    stopped.stop()  # stopped before it started: a later start walks nothing
    stopped.start()
    stopped._thread.join(10)
    assert stopped.take(os.fsencode(root)) is None


def test_backup_with_a_prescan_equals_one_without(tmp_path: Path) -> None:
    root = _tree(tmp_path / "site")
    kdf = {"name": "scrypt", "n": 1024, "r": 8, "p": 1}
    trees = []
    for name, use in (("r1", False), ("r2", True)):
        repo = Repository.init(LocalStorage(str(tmp_path / name)), "pw", kdf=kdf)
        try:
            with Prescan([str(root)], ["*.tmp"]) as prescan:
                prescan._thread.join(10)  # every directory listed before the archiver starts
                result = backup_paths(repo, [str(root)], excludes=["*.tmp"], prescan=prescan if use else None)
                assert bool(prescan._listings) is not use  # with it, the archiver took every listing
            trees.append(sorted((w.path, w.message) for w in result.archive.warnings))
            trees.append(result.archive.files_new)
            listing = repo.load_tree(repo.load_tree(result.snapshot.tree)[0].subtree or b"")
            trees.append(sorted(n.name for n in listing))
        finally:
            repo.close()
    assert trees[:3] == trees[3:]
    assert ("a/pipe", "special file (device, socket or fifo) skipped") in trees[0]
