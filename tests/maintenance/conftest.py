"""Fixtures for maintenance tests: small-pack repositories with a few snapshots, and exact restore checks.

Packs are made tiny (``PACK_TARGET``) and files small (one chunk each), so a
few hundred KiB of data spread over many packs that mix blobs of different
snapshots: forgetting one leaves packs fully unused, partly used and intact,
which is what prune has to tell apart.
"""

from __future__ import annotations

import os
import random
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sitesnap.engine.backup import backup_paths
from sitesnap.engine.restorer import Restorer
from sitesnap.format.chunker import ChunkerParams
from sitesnap.format.crypto import FAST_TEST_KDF
from sitesnap.progress import Tracker
from sitesnap.repository.check import check_repository
from sitesnap.repository.repository import Repository
from sitesnap.storage.base import Storage
from sitesnap.storage.local import LocalStorage

PASSWORD = "maintenance test password"
PACK_TARGET = 24 << 10
CHUNKER = ChunkerParams(64 << 10, 16 << 10, 256 << 10, seed=12345)


def open_repo(path: Path | str, storage: Storage | None = None) -> Repository:
    repo = Repository.open(storage or LocalStorage(Path(path)), PASSWORD)
    repo.pack_target = PACK_TARGET
    return repo


def init_repo(path: Path, **kwargs: object) -> Repository:
    repo = Repository.init(LocalStorage(path), PASSWORD, kdf=FAST_TEST_KDF, chunker=CHUNKER, **kwargs)  # type: ignore[arg-type]
    repo.pack_target = PACK_TARGET
    return repo


def write_files(root: Path, rng: random.Random, count: int, prefix: str = "f") -> None:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        sub = root / f"d{i % 3}"
        sub.mkdir(exist_ok=True)
        (sub / f"{prefix}{i}.bin").write_bytes(rng.randbytes(rng.randint(3 << 10, 12 << 10)))


def tree_contents(root: Path) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            full = Path(dirpath) / name
            out[str(full.relative_to(root))] = full.read_bytes()
    return out


@dataclass
class Workload:
    """A repository at ``path`` and, per snapshot ID, the exact file contents it must restore."""

    path: Path
    expected: dict[str, dict[str, bytes]] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)


def build_workload(base: Path, snapshots: int = 4, seed: int = 7) -> Workload:
    """``snapshots`` backups of one evolving directory (a third of the files change each time)."""
    rng = random.Random(seed)
    src = base / "src" / "site"
    write_files(src, rng, 30)
    work = Workload(base / "repo")
    repo = init_repo(work.path)
    with repo:
        for n in range(snapshots):
            if n:
                for i in rng.sample(range(30), 10):
                    (src / f"d{i % 3}" / f"f{i}.bin").write_bytes(rng.randbytes(rng.randint(3 << 10, 12 << 10)))
                write_files(src, rng, 3, prefix=f"new{n}-")
            result = backup_paths(repo, [str(src)], tags=[f"n{n}"])
            work.expected[result.snapshot.id] = tree_contents(src)
            work.order.append(result.snapshot.id)
    return work


@pytest.fixture(scope="session")
def workload_template(tmp_path_factory: pytest.TempPathFactory) -> Workload:
    return build_workload(tmp_path_factory.mktemp("template"))


@pytest.fixture
def workload(workload_template: Workload, tmp_path: Path) -> Workload:
    """A private copy of the template repository (4 snapshots)."""
    dst = tmp_path / "repo"
    shutil.copytree(workload_template.path, dst)
    return Workload(dst, dict(workload_template.expected), list(workload_template.order))


def restore_contents(repo: Repository, snapshot_id: str, target: Path) -> dict[str, bytes]:
    snap = repo.load_snapshot(snapshot_id)
    shutil.rmtree(target, ignore_errors=True)
    Restorer(repo, Tracker("restore")).restore_tree(snap.tree, str(target))
    return tree_contents(target / "site")


def assert_intact(path: Path, expected: dict[str, dict[str, bytes]], scratch: Path) -> None:
    """check --read-data passes and every snapshot in ``expected`` restores exactly."""
    with open_repo(path) as repo:
        report = check_repository(repo, read_data=True)
        assert report.ok, report.errors
        assert sorted(repo.snapshot_ids()) == sorted(expected)
        for sid, contents in expected.items():
            assert restore_contents(repo, sid, scratch / "restore") == contents, f"snapshot {sid[:8]} differs"


def dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


@pytest.fixture
def intact() -> Callable[..., None]:
    return assert_intact
