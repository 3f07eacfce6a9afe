"""Write-only mode: a host with only the write-only key backs up but cannot read; the password holder reads all.

Everything runs through the ``sitesnap`` command as users would: the host's
environment has no password at all, only ``--write-only-key``.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sitesnap.format.envelope import WRITE_ONLY_VERSION, peek_header
from sitesnap.repository.repository import Repository

HOST_REFUSALS = [
    ("snapshots",),
    ("ls", "latest"),
    ("restore", "latest", "--target", "{out}"),
    ("check", "--read-data"),
    ("check",),
    ("forget", "--keep-last", "1"),
    ("prune",),
    ("key", "add"),
    ("key", "list"),
    ("key", "write-only", "export", "--out", "{out}.key"),
]


def _tree(root: Path, seed: int) -> None:
    rnd = __import__("random").Random(seed)
    (root / "media").mkdir(parents=True)
    (root / "media" / "clip.bin").write_bytes(rnd.randbytes(1_500_000))
    (root / "notes.txt").write_text(f"notes {seed}\n" * 1000)
    (root / "empty").write_bytes(b"")
    os.symlink("notes.txt", root / "link")


def _envelope_versions(repo: Path, prefix: str) -> list[int]:
    return [peek_header(p.read_bytes(), p.name)[1] for p in (repo / prefix).iterdir()]


def _pack_header_versions(repo: Path) -> list[int]:
    out = []
    for pack in (repo / "data").glob("*/*"):
        raw = pack.read_bytes()
        header_len = int.from_bytes(raw[-4:], "little")
        out.append(peek_header(raw[-4 - header_len : -4], pack.name)[1])
    return out


@pytest.fixture
def setup(make_repo: Callable[..., Repository], run_cli: Callable[..., Any], tmp_path: Path) -> dict[str, Any]:
    repo = tmp_path / "repo"
    make_repo(repo).close()
    owner_src = tmp_path / "owner"
    _tree(owner_src, 1)
    res = run_cli("backup", str(owner_src), repo=repo)
    assert res.code == 0, res.stderr
    assert _envelope_versions(repo, "index") == [1]
    key = tmp_path / "host.key"
    res = run_cli("key", "write-only", "export", "--out", str(key), repo=repo)
    assert res.code == 0, res.stderr
    return {"repo": repo, "key": key, "owner_src": owner_src}


def host(run_cli: Callable[..., Any], setup: dict[str, Any], *args: str) -> Any:
    return run_cli("--write-only-key", str(setup["key"]), *args, repo=setup["repo"], password=None)


def test_export_writes_a_private_key_file_and_reseals_the_index(setup: dict[str, Any]) -> None:
    assert stat.S_IMODE(setup["key"].stat().st_mode) == 0o600
    doc = json.loads(setup["key"].read_text())
    assert doc["type"] == "sitesnap write-only key"
    assert set(doc) >= {"id_key", "index_key", "public_key", "chunker"}
    assert "enc_key" not in doc and "private_key" not in doc
    # Index files written before the export were re-sealed with the index key, so the host dedups against them.
    assert set(_envelope_versions(setup["repo"], "index")) == {WRITE_ONLY_VERSION}
    assert len(list((setup["repo"] / "writeonly").iterdir())) == 1


def test_host_backs_up_twice_with_dedup_and_owner_restores_exactly(
        setup: dict[str, Any], run_cli: Callable[..., Any], tmp_path: Path,
        tree_state: Callable[[Path], dict[str, Any]]) -> None:
    src = tmp_path / "site"
    _tree(src, 2)
    (src / "copy-of-owner.bin").write_bytes((setup["owner_src"] / "media" / "clip.bin").read_bytes())

    first = host(run_cli, setup, "--json", "backup", str(src))
    assert first.code == 0, first.stderr
    summary = json.loads(first.stdout.strip().splitlines()[-1])
    # The owner's clip was already in the repository: only the host's own data is new.
    assert 1_400_000 < summary["bytes_added"] < 2_400_000
    assert set(_pack_header_versions(setup["repo"])) == {1, WRITE_ONLY_VERSION}
    snaps = sorted(p.name for p in (setup["repo"] / "snapshots").iterdir())
    assert len(snaps) == 2

    (src / "notes.txt").write_text("changed on the host\n")
    second = host(run_cli, setup, "--json", "backup", str(src))
    assert second.code == 0, second.stderr
    summary2 = json.loads(second.stdout.strip().splitlines()[-1])
    assert summary2["bytes_added"] < 50_000, summary2  # unchanged files deduplicate through the index
    assert summary2["files_new"] + summary2["files_changed"] + summary2["files_unchanged"] >= 4

    host_snaps = [p.name for p in (setup["repo"] / "snapshots").iterdir() if p.name not in snaps]
    assert len(host_snaps) == 1
    for name in host_snaps + [s for s in snaps]:
        version = peek_header((setup["repo"] / "snapshots" / name).read_bytes(), name)[1]
        assert version in (1, WRITE_ONLY_VERSION)

    listed = run_cli("--json", "snapshots", repo=setup["repo"])
    assert listed.code == 0, listed.stderr
    assert len(json.loads(listed.stdout)) == 3
    checked = run_cli("check", "--read-data", repo=setup["repo"])
    assert checked.code == 0, checked.stdout + checked.stderr
    assert "no errors" in checked.stdout

    out = tmp_path / "out"
    res = run_cli("restore", "latest", "--target", str(out), repo=setup["repo"])
    assert res.code == 0, res.stderr
    assert tree_state(out / "site") == tree_state(src)
    out_owner = tmp_path / "out-owner"
    first_host_snap = json.loads(first.stdout.strip().splitlines()[-1])["snapshot_id"]
    res = run_cli("restore", first_host_snap, "--target", str(out_owner), repo=setup["repo"])
    assert res.code == 0, res.stderr
    assert (out_owner / "site" / "copy-of-owner.bin").read_bytes() == (
        setup["owner_src"] / "media" / "clip.bin").read_bytes()
    assert (out_owner / "site" / "notes.txt").read_text() == "notes 2\n" * 1000


@pytest.mark.parametrize("args", HOST_REFUSALS, ids=lambda a: " ".join(a))
def test_host_cannot_read_list_restore_or_check(setup: dict[str, Any], run_cli: Callable[..., Any], tmp_path: Path,
                                                args: tuple[str, ...]) -> None:
    src = tmp_path / "site"
    _tree(src, 3)
    assert host(run_cli, setup, "backup", str(src)).code == 0
    res = host(run_cli, setup, *[a.format(out=tmp_path / "out") for a in args])
    assert res.code == 29, (res.code, res.stdout, res.stderr)
    assert "Traceback" not in res.stderr
    first = res.stderr.strip().splitlines()[0]
    assert first.startswith("sitesnap: error: Not possible with a write-only key")
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "out.key").exists()


def test_owner_prune_and_index_repair_keep_host_data(setup: dict[str, Any], run_cli: Callable[..., Any],
                                                     tmp_path: Path,
                                                     tree_state: Callable[[Path], dict[str, Any]]) -> None:
    owner_snaps = [p.name for p in (setup["repo"] / "snapshots").iterdir()]
    src = tmp_path / "site"
    _tree(src, 4)
    first = host(run_cli, setup, "--json", "backup", str(src))
    assert first.code == 0, first.stderr
    (src / "notes.txt").write_text("rewritten\n")
    assert host(run_cli, setup, "backup", str(src)).code == 0
    # Forgetting the host's first snapshot leaves its old notes.txt unused in a pack whose other
    # blobs (the clip) are still used: prune must repack sealed blobs it keeps.
    forgotten = [json.loads(first.stdout.strip().splitlines()[-1])["snapshot_id"], *owner_snaps]
    res = run_cli("--json", "forget", *forgotten, "--prune", "--max-unused", "0", repo=setup["repo"])
    assert res.code == 0, res.stderr
    plan = next(json.loads(line) for line in res.stdout.splitlines() if '"message_type": "prune"' in line)
    assert plan["packs_repack"] and plan["result"]["packs_written"] >= 1, plan
    res = run_cli("repair", "index", repo=setup["repo"])
    assert res.code == 0, res.stderr
    checked = run_cli("check", "--read-data", repo=setup["repo"])
    assert checked.code == 0, checked.stdout + checked.stderr
    out = tmp_path / "out"
    res = run_cli("restore", "latest", "--target", str(out), repo=setup["repo"])
    assert res.code == 0, res.stderr
    assert tree_state(out / "site") == tree_state(src)
    # The host still deduplicates against what the owner rewrote.
    again = host(run_cli, setup, "--json", "backup", str(src))
    assert again.code == 0, again.stderr
    assert json.loads(again.stdout.strip().splitlines()[-1])["bytes_added"] < 50_000


def test_key_of_another_repository_is_refused(setup: dict[str, Any], make_repo: Callable[..., Repository],
                                              run_cli: Callable[..., Any], tmp_path: Path) -> None:
    other = tmp_path / "other"
    make_repo(other).close()
    src = tmp_path / "site"
    _tree(src, 5)
    res = run_cli("--write-only-key", str(setup["key"]), "backup", str(src), repo=other, password=None)
    assert res.code == 2, res.stderr
    assert "not enabled for the repository" in res.stderr
    assert not list(other.glob("snapshots/*")) and not list(other.glob("data/*/*"))


def test_a_master_key_lock_blocks_the_host(setup: dict[str, Any], run_cli: Callable[..., Any], tmp_path: Path,
                                           password: str) -> None:
    from sitesnap.storage.local import LocalStorage

    # A password holder that opened before the export still writes locks with the master key.
    owner = Repository.open(LocalStorage(setup["repo"]), password)
    owner.shared_index = False
    src = tmp_path / "site"
    _tree(src, 6)
    with owner.lock(exclusive=True, operation="prune"):
        res = host(run_cli, setup, "backup", str(src))
    owner.close()
    assert res.code == 13, res.stderr
    assert "cannot read" in res.stderr
    assert host(run_cli, setup, "backup", str(src)).code == 0
