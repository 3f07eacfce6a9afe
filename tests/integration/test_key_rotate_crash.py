"""Crash campaign for ``key rotate`` and ``key reencrypt``: every storage write and delete fails once.

For each write (an error before it, a lost reply after it, or a death in the
middle that leaves a half-written temp file) and each delete (an error
before or after it) of a rotation and of a re-encryption: the repository
still opens with the password, ``check --read-data`` passes, every snapshot
restores exactly, and a rerun completes.
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sitesnap.engine.backup import backup_paths
from sitesnap.engine.restorer import Restorer
from sitesnap.errors import StorageError
from sitesnap.format.chunker import ChunkerParams
from sitesnap.format.crypto import FAST_TEST_KDF
from sitesnap.progress import Tracker
from sitesnap.repository import keys as keyfiles
from sitesnap.repository.check import check_repository
from sitesnap.repository.reencrypt import reencrypt
from sitesnap.repository.repository import Repository
from sitesnap.repository.rotate import plan_rotate
from sitesnap.storage.faulty import FaultyStorage, SimulatedCrash
from sitesnap.storage.local import LocalStorage

PASSWORD = "rotate-crash"
CHUNKS = ChunkerParams(64 << 10, 16 << 10, 256 << 10, seed=7)
PACK_TARGET = 128 << 10
FAULTS = [("write", "error"), ("write", "error-after"), ("write", "die"), ("delete", "error"),
          ("delete", "error-after")]


def make_tree(root: Path, seed: int) -> None:
    rng = random.Random(seed)
    (root / "media").mkdir(parents=True, exist_ok=True)
    for i in range(4):
        (root / "media" / f"m{seed}-{i}.bin").write_bytes(rng.randbytes(rng.randrange(60_000, 200_000)))
    (root / "index.html").write_text(f"version {seed}\n" * 200)


def open_repo(storage: Any) -> Repository:
    repo = Repository.open(storage, PASSWORD)
    repo.pack_target = PACK_TARGET
    return repo


def states(repo: Repository, out: Path, describe: Callable[[Path], Any]) -> list[Any]:
    """What every snapshot restores to, sorted (IDs change when snapshots are re-sealed)."""
    repo.load_index()
    found = []
    for snap in repo.load_snapshots():
        Restorer(repo, Tracker("restore")).restore_tree(snap.tree, str(out / snap.id))
        found.append(describe(out / snap.id / "site"))
    shutil.rmtree(out, ignore_errors=True)
    return sorted(found, key=repr)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A repository with an owner's snapshot, a write-only host's snapshot, two extra slots and a marker;
    and a copy of it rotated once, with one more snapshot, to re-encrypt."""
    from tests.conftest import describe_tree

    work = tmp_path_factory.mktemp("rotate-crash")
    root = work / "repo"
    repo = Repository.init(LocalStorage(root), PASSWORD, kdf=FAST_TEST_KDF, chunker=CHUNKS)
    repo.pack_target = PACK_TARGET
    expected = []
    for seed in (1, 2):
        src = work / f"src{seed}" / "site"
        make_tree(src, seed)
        expected.append(describe_tree(src))
        if seed == 1:
            backup_paths(repo, [str(src)])
        else:
            host = Repository.open_write_only(LocalStorage(root), repo.enable_write_only("host"))
            host.pack_target = PACK_TARGET
            backup_paths(host, [str(src)])
            host.close()
    keyfiles.add_key(repo.storage, repo.master, "second", kdf=FAST_TEST_KDF, label="second")
    keyfiles.add_recovery_key(repo.storage, repo.master, kdf=FAST_TEST_KDF)
    repo.close()

    rotated = Path(shutil.copytree(root, work / "rotated"))
    repo = open_repo(LocalStorage(rotated))
    plan_rotate(repo).execute(PASSWORD)
    src = work / "src3" / "site"
    make_tree(src, 3)
    backup_paths(repo, [str(src)])
    repo.close()
    return {"root": root, "rotated": rotated, "expected": sorted(expected, key=repr),
            "expected_rotated": sorted([*expected, describe_tree(src)], key=repr)}


def count_ops(root: Path, run: Callable[[Repository], Any], tmp: Path) -> dict[str, int]:
    counter = FaultyStorage(LocalStorage(shutil.copytree(root, tmp)))
    repo = open_repo(counter)
    run(repo)
    repo.close()
    shutil.rmtree(tmp)
    return {"write": counter.calls["write"], "delete": counter.calls["delete"]}


def inject(faulty: FaultyStorage, op: str, kind: str, n: int) -> None:
    if kind == "die":
        faulty.die_mid_write(n, leave_partial=True)
    else:
        faulty.fail_nth(op, n, after=kind == "error-after")


def campaign(base: dict[str, Any], source: str, expected: list[Any], tmp_path: Path, op: str, kind: str,
             run: Callable[[Repository], Any], after: Callable[[Repository], None],
             describe: Callable[[Path], Any]) -> int:
    """Fail the nth ``op`` of ``run`` for every n; returns how many faults fired."""
    total = count_ops(base[source], run, tmp_path / "count")[op]
    assert total >= 3, total
    fired = 0
    for n in range(1, total + 1):
        root = shutil.copytree(base[source], tmp_path / f"r{n}")
        faulty = FaultyStorage(LocalStorage(root), seed=n)
        inject(faulty, op, kind, n)
        repo = open_repo(faulty)
        raised: BaseException | None = None
        try:
            run(repo)
        except (StorageError, SimulatedCrash) as exc:
            raised = exc
        repo.close()
        if faulty.injected:
            fired += 1
            assert raised is not None, f"{op} {n} failed ({kind}) but the operation reported success"
        fresh = open_repo(LocalStorage(root))
        fresh.remove_stale_locks(all_locks=True)  # the lock of the "dead" process, as 'sitesnap unlock' does
        report = check_repository(fresh, read_data=True)
        assert report.ok, (op, kind, n, report.errors)
        # A re-sealed snapshot may exist twice until the rerun (new copy written, old one not yet deleted).
        found = states(fresh, tmp_path / "out", describe)
        assert {repr(s) for s in found} == {repr(s) for s in expected}, (op, kind, n)
        run(fresh)
        fresh.close()
        again = open_repo(LocalStorage(root))
        report = check_repository(again, read_data=True)
        assert report.ok, (op, kind, n, "rerun", report.errors)
        after(again)
        assert states(again, tmp_path / "out", describe) == expected, (op, kind, n, "rerun")
        again.close()
        shutil.rmtree(root)
    return fired


def _rotate(repo: Repository) -> None:
    plan_rotate(repo).execute(PASSWORD)


def _rotated(repo: Repository) -> None:
    assert repo.config.version == 2 and repo.config.key_generation >= 1
    assert len(keyfiles.key_ids(repo.storage)) == 1
    assert not list(repo.storage.list("writeonly/")) and len(list(repo.storage.list("keyring/"))) == 1


@pytest.mark.parametrize("op, kind", FAULTS)
def test_rotate_survives_every_failed_write_and_delete(base: dict[str, Any], tmp_path: Path, op: str, kind: str,
                                                      tree_state: Callable[[Path], Any]) -> None:
    fired = campaign(base, "root", base["expected"], tmp_path, op, kind, _rotate, _rotated, tree_state)
    assert fired >= 3


def _reencrypt(repo: Repository) -> None:
    reencrypt(repo)


def _reencrypted(repo: Repository) -> None:
    assert repo.master.older == () and len(list(repo.storage.list("keyring/"))) == 1
    assert len(repo.snapshot_ids()) == 3, "a rerun must not leave two copies of a re-sealed snapshot"
    assert check_repository(repo).older_keys == 0


@pytest.mark.parametrize("op, kind", FAULTS)
def test_reencrypt_survives_every_failed_write_and_delete(base: dict[str, Any], tmp_path: Path, op: str, kind: str,
                                                         tree_state: Callable[[Path], Any]) -> None:
    fired = campaign(base, "rotated", base["expected_rotated"], tmp_path, op, kind, _reencrypt, _reencrypted,
                     tree_state)
    assert fired >= 3
