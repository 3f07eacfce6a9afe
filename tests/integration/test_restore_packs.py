"""The pack-oriented restore: blobs shared within and between files, in any order, and blobs that fail."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sitesnap.engine.restorer import Restorer
from sitesnap.errors import RestoreError
from sitesnap.format.blob import DATA
from sitesnap.format.snapshot import Snapshot
from sitesnap.format.tree import Node
from sitesnap.progress import Tracker
from sitesnap.repository.repository import Repository


def file_of(repo: Repository, name: bytes, parts: list[bytes]) -> Node:
    """A file node whose content is ``parts`` in order, each saved as its own blob (repeats dedup)."""
    content = [repo.save_blob(DATA, p)[0] for p in parts]
    return Node(name=name, type="file", mode=0o640, mtime_ns=1_600_000_000_123_456_789,
                size=sum(map(len, parts)), content=content)


def snapshot_of(repo: Repository, nodes: list[Node]) -> Snapshot:
    tree_id, _ = repo.save_tree(nodes)
    repo.flush()
    snap = Snapshot(time=datetime.now(UTC), tree=tree_id, paths=["/crafted"])
    repo.save_snapshot(snap)
    return snap


def test_shared_and_repeated_blobs_land_at_every_offset(make_repo: Callable[..., Repository], tmp_path: Path) -> None:
    repo = make_repo()
    a, b, c = os.urandom(70_000), os.urandom(5_000), b"c" * 123_456
    files = {
        b"aba": [a, b, a],
        b"b": [b],
        b"cab": [c, a, b],
        b"many": [c, b] * 40,
        b"empty": [],
    }
    snap = snapshot_of(repo, [file_of(repo, name, parts) for name, parts in files.items()])
    Restorer(repo, Tracker("restore")).restore_tree(snap.tree, str(tmp_path / "out"))
    for name, parts in files.items():
        path = tmp_path / "out" / os.fsdecode(name)
        assert path.read_bytes() == b"".join(parts), name
        assert path.stat().st_mode & 0o7777 == 0o640
        assert path.stat().st_mtime_ns == 1_600_000_000_123_456_789
    assert sorted(os.listdir(tmp_path / "out")) == sorted(os.fsdecode(n) for n in files)


def test_a_blob_missing_from_its_pack_fails_only_the_files_that_need_it(
    make_repo: Callable[..., Repository], tmp_path: Path
) -> None:
    repo = make_repo()
    good = file_of(repo, b"good", [b"fine " * 1000])
    bad_blob = b"lost " * 1000
    single = file_of(repo, b"single", [bad_blob])
    several = file_of(repo, b"several", [b"head " * 1000, bad_blob, b"tail " * 1000])
    snap = snapshot_of(repo, [good, single, several])
    pack_id, _, _, _ = repo.blob_location(DATA, single.content[0]) or (b"", 0, 0, 0)
    # Remove the whole pack holding the blob: every blob of it is then unreadable.
    pack_path = Path(repo.storage.properties.url) / "data" / pack_id.hex()[:2] / pack_id.hex()
    assert pack_path.exists(), pack_path
    pack_path.unlink()
    with pytest.raises(RestoreError, match="missing"):
        Restorer(repo, Tracker("restore")).restore_tree(snap.tree, str(tmp_path / "out"))
    left = sorted(os.listdir(tmp_path / "out"))
    # Nothing half-written under a final name, and no temporary file left behind.
    assert "single" not in left and "several" not in left
    assert not [n for n in left if n.startswith(".sitesnap-tmp-")]
