"""Prune: frees what forget released, keeps everything else, survives failures at any write or delete."""

from __future__ import annotations

from pathlib import Path

import pytest

from sitesnap.errors import IntegrityError, ObjectNotFound, RepositoryLocked, StorageError
from sitesnap.repository.prune import PruneOptions, plan_prune, prune
from sitesnap.repository.repository import INDEX_PREFIX, pack_name
from sitesnap.storage.faulty import FaultyStorage, SimulatedCrash
from sitesnap.storage.local import LocalStorage

from .conftest import Workload, assert_intact, dir_bytes, open_repo

EVERYTHING = PruneOptions(max_unused=0.0)


def forget_first(work: Workload, count: int = 2) -> dict[str, dict[str, bytes]]:
    with open_repo(work.path) as repo:
        for sid in work.order[:count]:
            repo.delete_snapshot(sid)
    return {sid: work.expected[sid] for sid in work.order[count:]}


def test_prune_after_forget_frees_space_and_keeps_the_rest(workload: Workload, tmp_path: Path) -> None:
    remaining = forget_first(workload)
    before = dir_bytes(workload.path)
    with open_repo(workload.path) as repo:
        plan = prune(repo, EVERYTHING)
    assert plan.delete and plan.repack, plan.to_json()
    assert plan.result is not None and plan.result.bytes_freed > 0
    assert dir_bytes(workload.path) < before
    assert_intact(workload.path, remaining, tmp_path)
    with open_repo(workload.path) as repo:
        again = prune(repo, EVERYTHING)
        assert again.empty, again.to_json()
        assert len(repo.list_ids(INDEX_PREFIX)) == 1


def test_dry_run_changes_nothing(workload: Workload, tmp_path: Path) -> None:
    forget_first(workload)
    listing = sorted(p for p in workload.path.rglob("*") if p.is_file())
    with open_repo(workload.path) as repo:
        plan = prune(repo, EVERYTHING, dry_run=True)
    assert plan.bytes_to_free > 0 and plan.result is None
    assert sorted(p for p in workload.path.rglob("*") if p.is_file()) == listing


def test_max_unused_and_max_repack_bound_the_work(workload: Workload) -> None:
    forget_first(workload)
    with open_repo(workload.path) as repo, repo.lock(exclusive=True):
        lazy = plan_prune(repo, PruneOptions(max_unused=1.0))
        eager = plan_prune(repo, EVERYTHING)
        budget = min(eager.sizes[p] for p in eager.repack)
        bounded = plan_prune(repo, PruneOptions(max_unused=0.0, max_repack=budget))
    assert not lazy.repack and lazy.delete
    assert len(eager.repack) > 1
    assert bounded.repack_bytes <= budget and len(bounded.repack) == 1


def test_unindexed_packs_and_stale_index_files_are_removed(workload: Workload, tmp_path: Path) -> None:
    storage = LocalStorage(workload.path)
    stray = b"left by a crashed backup"
    storage.write(pack_name("ab" * 32), stray)
    with open_repo(workload.path) as repo:
        repo.load_index()
        # A second copy of the index, as a crashed prune leaves it: the same packs named twice.
        old = repo.list_ids(INDEX_PREFIX)
        for index_id in old:
            repo.write_index(repo.read_index(index_id))
        plan = prune(repo)
    assert "ab" * 32 in plan.to_json()["packs_unindexed"]
    assert plan.rewrite_index
    with pytest.raises(ObjectNotFound):
        storage.stat(pack_name("ab" * 32))
    assert_intact(workload.path, workload.expected, tmp_path)


def test_refuses_when_an_index_is_damaged(workload: Workload) -> None:
    forget_first(workload)
    storage = LocalStorage(workload.path)
    victim = sorted(i.name for i in storage.list(INDEX_PREFIX))[0]
    storage.write(victim, storage.read(victim)[:-3])
    listing = sorted(i.name for i in storage.list(""))
    with open_repo(workload.path) as repo, pytest.raises(IntegrityError, match="refusing") as info:
        prune(repo)
    assert "repair index" in info.value.hint
    assert sorted(i.name for i in storage.list("")) == listing


def _faulty_prune(path: Path, op: str, nth: int, crash: bool) -> bool:
    """Prune with the ``nth`` write/delete failing; True when the fault fired."""
    faulty = FaultyStorage(LocalStorage(path))
    if crash:
        faulty.die_mid_write(nth, leave_partial=True)
    else:
        faulty.fail_nth(op, nth, after=nth % 2 == 0)
    repo = open_repo(path, storage=faulty)
    try:
        prune(repo, EVERYTHING)
    except (StorageError, SimulatedCrash):
        pass
    finally:
        repo.close()
    return bool(faulty.injected)


@pytest.mark.parametrize(("op", "crash"), [("write", False), ("delete", False), ("write", True)])
def test_prune_failing_at_every_step_never_loses_data(
    workload_template: Workload, tmp_path: Path, op: str, crash: bool
) -> None:
    import shutil

    fired_any = False
    for nth in range(1, 60):
        path = tmp_path / f"r{nth}"
        shutil.copytree(workload_template.path, path)
        work = Workload(path, dict(workload_template.expected), list(workload_template.order))
        remaining = forget_first(work)
        fired = _faulty_prune(path, op, nth, crash)
        with open_repo(path) as repo:
            repo.remove_stale_locks(all_locks=True)  # the run above is over; its lock may remain
        assert_intact(path, remaining, tmp_path / "scratch")
        with open_repo(path) as repo:
            prune(repo, EVERYTHING)
        assert_intact(path, remaining, tmp_path / "scratch")
        with open_repo(path) as repo:
            assert prune(repo, EVERYTHING).empty
        shutil.rmtree(path)
        if not fired:
            break
        fired_any = True
    assert fired_any and not fired, f"prune still faulting after {nth} {op}s"


def test_prune_and_backup_exclude_each_other(workload: Workload) -> None:
    with (
        open_repo(workload.path) as backup_side,
        backup_side.lock(operation="backup"),
        open_repo(workload.path) as prune_side,
        pytest.raises(RepositoryLocked),
    ):
        prune(prune_side)
    with (
        open_repo(workload.path) as prune_side,
        prune_side.lock(exclusive=True, operation="prune"),
        open_repo(workload.path) as backup_side,
        pytest.raises(RepositoryLocked),
        backup_side.lock(operation="backup"),
    ):
        pass
