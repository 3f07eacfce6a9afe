"""repair index and repair snapshots: recover everything that is still intact."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sitesnap.errors import IntegrityError, RestoreError
from sitesnap.format.blob import DATA
from sitesnap.repository.check import check_repository
from sitesnap.repository.prune import used_blobs
from sitesnap.repository.repository import INDEX_PREFIX, pack_name
from sitesnap.storage.local import LocalStorage

from .conftest import Workload, assert_intact, open_repo, restore_contents
from .test_forget_cli import run


def summary(stdout: str) -> dict[str, object]:
    """The final JSON line (progress status lines come before it)."""
    doc: dict[str, object] = json.loads(stdout.strip().splitlines()[-1])
    assert doc["message_type"] == "summary"
    return doc


def _check_ok(path: Path) -> bool:
    with open_repo(path) as repo:
        return check_repository(repo, read_data=True).ok


@pytest.mark.parametrize("damage", ["truncate", "flip", "delete"])
def test_repair_index_after_damage(workload: Workload, tmp_path: Path, damage: str) -> None:
    storage = LocalStorage(workload.path)
    victim = sorted(i.name for i in storage.list(INDEX_PREFIX))[0]
    raw = storage.read(victim)
    if damage == "truncate":
        storage.write(victim, raw[: len(raw) // 2])
    elif damage == "flip":
        storage.write(victim, raw[:40] + bytes([raw[40] ^ 0x10]) + raw[41:])
    else:
        storage.delete(victim)
    assert not _check_ok(workload.path)
    res = run("repair", "index", "--json", repo=workload.path)
    assert res.returncode == 0, res.stderr
    doc = summary(res.stdout)
    assert doc["packs_indexed"] > 0 and not doc["unreadable_packs"]
    assert (victim.rsplit("/", 1)[-1] in doc["damaged_index"]) == (damage != "delete")
    assert_intact(workload.path, workload.expected, tmp_path)
    assert len(list(storage.list(INDEX_PREFIX))) == 1


def _pick_pack(work: Workload, whole: bool = False) -> tuple[bytes, int, set[str]]:
    """A data pack whose damage hurts some snapshots but not all: (pack, offset of a used blob, affected).

    ``whole``: the pack is lost entirely, so every snapshot using any of its blobs is affected.
    """
    with open_repo(work.path) as repo:
        repo.load_index()
        per_snap = {s.id: used_blobs(repo, [s.tree]) for s in repo.load_snapshots()}
        for pack_id, entries in sorted(repo.index.packs().items()):
            if entries[0].type != DATA:
                continue
            for e in entries:
                lost = {(x.type, x.id) for x in entries} if whole else {(DATA, e.id)}
                affected = {sid for sid, used in per_snap.items() if used & lost}
                if 0 < len(affected) < len(per_snap):
                    return pack_id, e.offset + e.length // 2, affected
    raise AssertionError("no suitable pack")


def test_repair_snapshots_removes_exactly_the_damaged_ones(workload: Workload, tmp_path: Path) -> None:
    pack_id, offset, affected = _pick_pack(workload)
    path = workload.path / pack_name(pack_id)
    raw = bytearray(path.read_bytes())
    raw[offset] ^= 0x01
    path.write_bytes(bytes(raw))
    with open_repo(workload.path) as repo:
        repo.load_index()
        for sid in affected:
            with pytest.raises((IntegrityError, RestoreError)):
                restore_contents(repo, sid, tmp_path / "broken")
    report = run("repair", "snapshots", "--json", repo=workload.path)
    assert report.returncode == 0, report.stderr
    doc = summary(report.stdout)
    assert {d["id"] for d in doc["damaged"]} == affected and not doc["removed"]
    assert pack_id.hex() in doc["damaged_packs"]
    assert not _check_ok(workload.path)
    fixed = run("repair", "snapshots", "--forget", repo=workload.path)
    assert fixed.returncode == 0, fixed.stderr
    assert all(f"removed snapshot {sid[:8]}" in fixed.stdout for sid in affected)
    intact = {sid: c for sid, c in workload.expected.items() if sid not in affected}
    assert_intact(workload.path, intact, tmp_path)
    assert not (workload.path / pack_name(pack_id)).exists()
    again = run("repair", "snapshots", "--json", repo=workload.path)
    assert summary(again.stdout)["damaged"] == []
    assert run("prune", repo=workload.path).returncode == 0
    assert_intact(workload.path, intact, tmp_path)


def test_repair_snapshots_finds_a_missing_pack_without_reading_data(workload: Workload, tmp_path: Path) -> None:
    pack_id, _, affected = _pick_pack(workload, whole=True)
    (workload.path / pack_name(pack_id)).unlink()
    res = run("repair", "snapshots", "--forget", "--no-read-data", "--json", repo=workload.path)
    assert res.returncode == 0, res.stderr
    assert set(summary(res.stdout)["removed"]) == affected
    assert_intact(workload.path, {s: c for s, c in workload.expected.items() if s not in affected}, tmp_path)
