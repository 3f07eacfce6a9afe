"""``key rotate`` and ``key reencrypt`` (docs/keys.md, "Changing the master key"; docs/format/v1.md section 14).

What a leaked old master key can and cannot open is tested on the stored
files themselves: the old key is taken from the old key slot with the old
password before the rotation, and every envelope, pack header and blob is
tried with it.
"""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sitesnap.engine.backup import backup_paths
from sitesnap.engine.restorer import Restorer
from sitesnap.errors import AppendOnlyError, FormatVersionError, IntegrityError, WrongPassword
from sitesnap.format.blob import decode_blob
from sitesnap.format.crypto import MasterKey
from sitesnap.format.envelope import (
    KIND_CONFIG,
    KIND_INDEX,
    KIND_KEYRING,
    KIND_LOCK,
    KIND_SNAPSHOT,
    open_envelope,
    peek_header,
)
from sitesnap.format.pack import PackEntry, decode_pack_header, split_pack_tail
from sitesnap.progress import Tracker
from sitesnap.repository.check import check_repository
from sitesnap.repository.keys import read_key_file
from sitesnap.repository.reencrypt import reencrypt
from sitesnap.repository.repository import Repository, require_format
from sitesnap.repository.rotate import plan_rotate
from sitesnap.storage.local import LocalStorage
from sitesnap.storage.wrappers import AppendOnlyStorage

OTHER = "a colleague's password"
KINDS = {"config": KIND_CONFIG, "keyring": KIND_KEYRING, "index": KIND_INDEX, "snapshots": KIND_SNAPSHOT,
         "locks": KIND_LOCK}
FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "repo-v1"
FIXTURE_PASSWORD = "sitesnap-v1-fixture"


def make_tree(root: Path, seed: int) -> None:
    rng = random.Random(seed)
    (root / "media").mkdir(parents=True, exist_ok=True)
    for i in range(5):
        (root / "media" / f"f{seed}-{i}.bin").write_bytes(rng.randbytes(rng.randrange(100_000, 300_000)))
    (root / "notes.txt").write_text(f"notes {seed}\n" * 3000)
    if not (root / "link").is_symlink():
        (root / "link").symlink_to("notes.txt")


def slot_key(repo_dir: Path, password: str) -> MasterKey:
    """The master key in the one key slot ``password`` opens, read straight from the files."""
    for slot in (repo_dir / "keys").iterdir():
        try:
            return read_key_file(slot.read_bytes(), password)
        except WrongPassword:  # a slot of another password
            continue
    raise AssertionError("no slot opens")


def sealed_files(repo_dir: Path) -> dict[str, bytes]:
    """Every object sealed with a master key (key slots and write-only markers are not)."""
    out = {}
    for path in sorted(repo_dir.rglob("*")):
        rel = path.relative_to(repo_dir).as_posix()
        if path.is_file() and rel.split("/")[0] in (*KINDS, "data") and ".tmp" not in rel:
            out[rel] = path.read_bytes()
    return out


def what_opens(key: MasterKey, rel: str, raw: bytes, reader: MasterKey) -> tuple[int, int]:
    """(parts of the object ``key`` opens, parts in all): an envelope is one part; a pack is its header and blobs."""
    top = rel.split("/")[0]
    if top != "data":
        try:
            open_envelope(key.aead(), raw, KINDS[top], rel, index_aead=key.index_aead(), private_key=key.private_key)
            return 1, 1
        except IntegrityError:
            return 0, 1
    header_len = split_pack_tail(raw[-4:], len(raw), rel)
    off = len(raw) - 4 - header_len
    entries = decode_pack_header(reader.aead(), raw[off:-4], off, rel, private_key=reader.private_key)
    opened = 0
    try:
        decode_pack_header(key.aead(), raw[off:-4], off, rel, private_key=key.private_key)
        opened += 1
    except IntegrityError:
        pass
    for e in entries:
        opened += _blob_opens(key, e, raw)
    return opened, 1 + len(entries)


def _blob_opens(key: MasterKey, e: PackEntry, raw: bytes) -> int:
    try:
        decode_blob(key, key.aead(), e.type, e.id, raw[e.offset:e.offset + e.length], e.plain_size,
                    write_only=e.write_only)
        return 1
    except IntegrityError:
        return 0


def opened_by(key: MasterKey, repo_dir: Path, password: str) -> dict[str, tuple[int, int]]:
    with Repository.open(LocalStorage(repo_dir), password) as repo:
        reader = repo.master
    return {rel: what_opens(key, rel, raw, reader) for rel, raw in sealed_files(repo_dir).items()}


def restore_state(run_cli: Callable[..., Any], repo_dir: Path, snapshot_id: str, out: Path,
                  describe: Callable[[Path], Any], password: str) -> Any:
    res = run_cli("restore", snapshot_id, "--target", str(out), repo=repo_dir, password=password)
    assert res.code == 0, res.stderr
    state = describe(out / "site")
    shutil.rmtree(out)
    return state


def cli_json(run_cli: Callable[..., Any], *args: str, **kwargs: Any) -> Any:
    res = run_cli("--json", *args, **kwargs)
    assert res.code == 0, res.stdout + res.stderr
    return json.loads(res.stdout.strip().splitlines()[-1]) if args[0] in ("check", "backup") or (
        args[:2] == ("key", "reencrypt")) else json.loads(res.stdout)


def test_rotate_then_reencrypt(make_repo: Callable[..., Repository], run_cli: Callable[..., Any], tmp_path: Path,
                               password: str, tree_state: Callable[[Path], Any],
                               repo_size: Callable[[Path], int]) -> None:
    repo_dir, src = tmp_path / "repo", tmp_path / "site"
    make_repo(repo_dir).close()
    make_tree(src, 1)
    state_a = tree_state(src)
    first = cli_json(run_cli, "backup", str(src), repo=repo_dir)["snapshot_id"]
    old = slot_key(repo_dir, password)
    before = sealed_files(repo_dir)

    rotated = cli_json(run_cli, "key", "rotate", "--yes", repo=repo_dir)
    assert rotated["generation"] == 1 and rotated["older_generations"] == 1
    size = repo_size(repo_dir)
    again = cli_json(run_cli, "backup", "--type", "full", str(src), repo=repo_dir)["snapshot_id"]
    assert repo_size(repo_dir) - size < size // 100, "the same tree after rotation must deduplicate"
    make_tree(src, 2)
    (src / "notes.txt").write_text("changed after the rotation\n")
    state_b = tree_state(src)
    second = cli_json(run_cli, "backup", str(src), repo=repo_dir)["snapshot_id"]

    # The old key opens exactly what was there before, untouched; nothing rewritten or new.
    after = sealed_files(repo_dir)
    opened = opened_by(old, repo_dir, password)
    for rel, raw in after.items():
        parts, total = opened[rel]
        if before.get(rel) == raw:
            assert parts == total, f"{rel}: written before the rotation, the old key must still open it"
        else:
            assert parts == 0, f"{rel}: written at or after the rotation, the old key opens {parts}/{total} parts"
    assert any(rel.startswith("data/") and before.get(rel) == raw for rel, raw in after.items())
    assert any(rel.startswith("data/") and rel not in before for rel in after)
    check = cli_json(run_cli, "check", "--read-data", repo=repo_dir)
    assert check["ok"] and check["key_generation"] == 1 and check["older_keys"] == 1 and check["older_sealed"] > 0
    for sid, state in ((first, state_a), (again, state_a), (second, state_b)):
        assert restore_state(run_cli, repo_dir, sid, tmp_path / "out", tree_state, password) == state

    done = cli_json(run_cli, "key", "reencrypt", repo=repo_dir)
    mapping = done["result"]["snapshots"]
    assert list(mapping) == [first] and done["result"]["older_keys_dropped"] == 1
    listed = {s["id"]: s for s in cli_json(run_cli, "snapshots", repo=repo_dir)}
    assert sorted(listed) == sorted([mapping[first], again, second])
    assert listed[mapping[first]]["original"] == first
    assert all(parts == 0 for parts, _ in opened_by(old, repo_dir, password).values()), "the old key still opens"
    check = cli_json(run_cli, "check", "--read-data", repo=repo_dir)
    assert check["ok"] and check["older_keys"] == 0 and check["older_sealed"] == 0 and not check["warnings"]
    for sid, state in ((mapping[first], state_a), (again, state_a), (second, state_b)):
        assert restore_state(run_cli, repo_dir, sid, tmp_path / "out", tree_state, password) == state
    size = repo_size(repo_dir)
    cli_json(run_cli, "backup", "--type", "full", str(src), repo=repo_dir)
    assert repo_size(repo_dir) - size < size // 100, "deduplication must survive the re-encryption"
    assert cli_json(run_cli, "key", "reencrypt", repo=repo_dir)["older_keys"] == 0  # a rerun has nothing to do


def test_two_rotations_then_reencrypt(make_repo: Callable[..., Repository], tmp_path: Path, password: str,
                                      tree_state: Callable[[Path], Any]) -> None:
    repo_dir = tmp_path / "repo"
    repo = make_repo(repo_dir)
    states: dict[str, Any] = {}
    for round_no in range(3):
        src = tmp_path / f"src{round_no}" / "site"
        make_tree(src, 10 + round_no)
        states[backup_paths(repo, [str(src)]).snapshot.id] = tree_state(src)
        if round_no < 2:
            plan_rotate(repo).execute(password)
    repo.close()
    with Repository.open(LocalStorage(repo_dir), password) as repo:
        assert repo.config.key_generation == 2 and len(repo.master.older) == 2
        raw = next((repo_dir / "keyring").iterdir()).read_bytes()
        doc = json.loads(open_envelope(repo.master.current.aead(), raw, KIND_KEYRING, "keyring"))
        assert doc["generation"] == 2 and len(doc["older"]) == 2
        assert _restore_all(repo, tmp_path / "out", tree_state) == sorted(states.values(), key=repr)
        report = check_repository(repo, read_data=True)
        assert report.ok and report.older_keys == 2, report.errors
        plan = reencrypt(repo)
        assert plan.result is not None and len(plan.result.snapshots) == 2  # the third was written with the new key
    with Repository.open(LocalStorage(repo_dir), password) as repo:
        assert repo.master.older == () and len(list((repo_dir / "keyring").iterdir())) == 1
        report = check_repository(repo, read_data=True)
        assert report.ok and report.older_sealed == 0 and not report.warnings, report.errors + report.warnings
        assert _restore_all(repo, tmp_path / "out", tree_state) == sorted(states.values(), key=repr)


def _restore_all(repo: Repository, out: Path, describe: Callable[[Path], Any]) -> list[Any]:
    repo.load_index()
    states = []
    for snap in repo.load_snapshots():
        Restorer(repo, Tracker("restore")).restore_tree(snap.tree, str(out / snap.id))
        states.append(describe(out / snap.id / "site"))
    shutil.rmtree(out)
    return sorted(states, key=repr)


def test_rotation_retires_other_slots_and_write_only_keys(
        make_repo: Callable[..., Repository], run_cli: Callable[..., Any], tmp_path: Path, password: str,
        tree_state: Callable[[Path], Any]) -> None:
    repo_dir, src = tmp_path / "repo", tmp_path / "site"
    make_repo(repo_dir).close()
    make_tree(src, 3)
    assert run_cli("key", "add", "--label", "colleague", repo=repo_dir, env={"SITESNAP_NEW_PASSWORD": OTHER}).code == 0
    code = cli_json(run_cli, "key", "recovery", repo=repo_dir)["recovery_code"]
    colleague = next(k for k in cli_json(run_cli, "key", "list", repo=repo_dir) if k["label"] == "colleague")
    assert run_cli("key", "export", colleague["id"], "--out", str(tmp_path / "colleague.key"), repo=repo_dir).code == 0
    host_key = tmp_path / "host.key"
    assert run_cli("key", "write-only", "export", "--out", str(host_key), "--label", "web1", repo=repo_dir).code == 0
    assert run_cli("--write-only-key", str(host_key), "backup", str(src), repo=repo_dir, password=None).code == 0

    rotated = cli_json(run_cli, "key", "rotate", "--yes", repo=repo_dir)
    assert sorted(s["label"] for s in rotated["removed_slots"]) == ["colleague", "initial", "recovery code"]
    assert [m["label"] for m in rotated["removed_write_only"]] == ["web1"]
    assert len(list((repo_dir / "keys").iterdir())) == 1 and not list((repo_dir / "writeonly").iterdir())
    listed = cli_json(run_cli, "key", "list", repo=repo_dir)
    assert len(listed) == 1 and listed[0]["current"] and listed[0]["label"].startswith("rotated ")
    for gone in (OTHER, code):
        assert run_cli("snapshots", repo=repo_dir, password=gone).code == 12

    # A slot of the old key that is still there (an interrupted rotation, a file put back by hand).
    shutil.copy(tmp_path / "colleague.key", repo_dir / "keys" / colleague["id"])
    res = run_cli("--json", "snapshots", repo=repo_dir, password=OTHER)
    assert res.code == 12 and "Traceback" not in res.stderr
    assert json.loads(res.stdout)["error"] == "retired_key"
    res = run_cli("snapshots", repo=repo_dir, password=OTHER)
    assert "retired master key" in res.stderr and len(res.stderr.strip().splitlines()) <= 2
    assert run_cli("snapshots", repo=repo_dir).code == 0  # the current password skips the retired slot
    check = cli_json(run_cli, "check", repo=repo_dir)
    assert check["ok"] and any("retired master key" in w and colleague["id"] in w for w in check["warnings"])

    res = run_cli("--write-only-key", str(host_key), "backup", str(src), repo=repo_dir, password=None)
    assert res.code == 2 and "not enabled" in res.stderr
    new_host = tmp_path / "host2.key"
    assert run_cli("key", "write-only", "export", "--out", str(new_host), repo=repo_dir).code == 0
    (src / "notes.txt").write_text("written by the host after the rotation\n")
    assert run_cli("--write-only-key", str(new_host), "backup", str(src), repo=repo_dir, password=None).code == 0
    assert restore_state(run_cli, repo_dir, "latest", tmp_path / "out", tree_state, password) == tree_state(src)
    assert cli_json(run_cli, "check", "--read-data", repo=repo_dir)["ok"]


def test_rotate_asks_first_and_refuses_where_it_must(
        make_repo: Callable[..., Repository], run_cli: Callable[..., Any], tmp_path: Path, password: str) -> None:
    repo_dir = tmp_path / "repo"
    make_repo(repo_dir).close()
    before = {p: p.read_bytes() for p in repo_dir.rglob("*") if p.is_file()}
    res = run_cli("key", "rotate", repo=repo_dir)
    assert res.code == 2 and "--yes" in res.stderr and "Traceback" not in res.stderr
    host_key = tmp_path / "host.key"
    assert run_cli("key", "write-only", "export", "--out", str(host_key), repo=repo_dir).code == 0
    res = run_cli("--write-only-key", str(host_key), "key", "rotate", "--yes", repo=repo_dir, password=None)
    assert res.code == 29, res.stderr
    assert all(p.read_bytes() == raw for p, raw in before.items() if not p.name.startswith("index"))
    with Repository.open(AppendOnlyStorage(LocalStorage(repo_dir)), password) as repo:
        with pytest.raises(AppendOnlyError):
            plan_rotate(repo).execute(password)
        with pytest.raises(AppendOnlyError):
            reencrypt(repo)
    with Repository.open(LocalStorage(repo_dir), password) as repo:
        assert repo.config.version == 1 and not (repo_dir / "keyring").exists()


def test_new_password_and_the_config_a_format_1_reader_meets(
        make_repo: Callable[..., Repository], run_cli: Callable[..., Any], tmp_path: Path, password: str) -> None:
    repo_dir = tmp_path / "repo"
    make_repo(repo_dir).close()
    old_slot = next((repo_dir / "keys").iterdir()).name
    new_file = tmp_path / "new-password"
    new_file.write_text("the new passphrase\n")
    res = run_cli("key", "rotate", "--yes", "--new-password-file", str(new_file), repo=repo_dir)
    assert res.code == 0 and "new password" in res.stdout, res.stderr
    assert run_cli("snapshots", repo=repo_dir).code == 12
    assert run_cli("snapshots", repo=repo_dir, password="the new passphrase").code == 0
    new = slot_key(repo_dir, "the new passphrase")
    raw = (repo_dir / "config").read_bytes()
    assert peek_header(raw, "config") == (KIND_CONFIG, 1)  # a format 1 reader gets as far as the JSON...
    config = json.loads(open_envelope(new.aead(), raw, KIND_CONFIG, "config"))
    assert config["version"] == 2 and config["key_generation"] == 1 and config["retired_slots"] == [old_slot]
    with pytest.raises(FormatVersionError, match="format version 2"):
        require_format(config["version"], readable=(1,))  # ...and stops there, as sitesnap 1-only did


def test_frozen_v1_repository_rotates_and_reencrypts(tmp_path: Path, tree_state: Callable[[Path], Any]) -> None:
    root = Path(shutil.copytree(FIXTURE, tmp_path / "repo-v1", ignore=shutil.ignore_patterns("README.md")))
    first = "55b1f44646b1ab119f79ab53c47806669c424833690a2bf229f87be907e3a48c"
    with Repository.open(LocalStorage(root), FIXTURE_PASSWORD) as repo:
        plan_rotate(repo).execute(FIXTURE_PASSWORD)
        src = tmp_path / "new" / "site"
        make_tree(src, 7)
        backup_paths(repo, [str(src)])
    with Repository.open(LocalStorage(root), FIXTURE_PASSWORD) as repo:
        assert repo.config.version == 2 and len(repo.load_snapshots()) == 3
        assert check_repository(repo, read_data=True).ok
        repo.load_index()
        Restorer(repo, Tracker("restore")).restore_tree(repo.find_snapshot(first).tree, str(tmp_path / "a"))
        assert (tmp_path / "a" / "site" / "README.txt").read_text() == "hello sitesnap\n"
        plan = reencrypt(repo)
        assert plan.result is not None and first in plan.result.snapshots
        new_first = plan.result.snapshots[first]
    with Repository.open(LocalStorage(root), FIXTURE_PASSWORD) as repo:
        report = check_repository(repo, read_data=True)
        assert report.ok and not report.warnings, report.errors + report.warnings
        repo.load_index()
        Restorer(repo, Tracker("restore")).restore_tree(repo.find_snapshot(new_first).tree, str(tmp_path / "b"))
        assert tree_state(tmp_path / "b" / "site") == tree_state(tmp_path / "a" / "site")


def _flip(path: Path, byte: int) -> None:
    data = bytearray(path.read_bytes())
    data[byte] ^= 1
    path.write_bytes(bytes(data))


def test_damage_after_a_rotation_is_damage_not_a_retired_password(
        make_repo: Callable[..., Repository], run_cli: Callable[..., Any], tmp_path: Path, password: str) -> None:
    repo_dir, src = tmp_path / "repo", tmp_path / "site"
    make_tree(src, 5)
    repo = make_repo(repo_dir)
    backup_paths(repo, [str(src)])
    plan_rotate(repo).execute(password)
    repo.close()
    good = {p: p.read_bytes() for p in (repo_dir / "config", next((repo_dir / "keyring").iterdir()))}
    _flip(repo_dir / "config", 40)
    res = run_cli("snapshots", repo=repo_dir)
    assert res.code == 14 and "config" in res.stderr and "retired" not in res.stderr, res.stderr
    (repo_dir / "config").write_bytes(good[repo_dir / "config"])
    keyring_file = next((repo_dir / "keyring").iterdir())
    _flip(keyring_file, 30)
    res = run_cli("check", repo=repo_dir)
    assert res.code == 14 and keyring_file.name in res.stderr, res.stderr
    keyring_file.write_bytes(good[keyring_file])
    assert run_cli("check", "--read-data", repo=repo_dir).code == 0
