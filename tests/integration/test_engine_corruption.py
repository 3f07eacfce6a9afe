"""Corruption campaign: every kind of repository file, damaged, is found and named by ``check``.

A template repository (two snapshots, several indexes, data packs and tree
packs) is copied for each case, one file is damaged (a flipped bit at a
random position, a truncation, a deletion or a misnamed duplicate), and
``check --read-data`` must fail and name the damaged object.  The bounded
default runs a few positions per kind; ``SITESNAP_CAMPAIGN=N`` runs N flips
and N truncations per kind (see docs/reliability.md).  A few cases go
through the real ``sitesnap`` command to prove exit code 14.
"""

from __future__ import annotations

import os
import random
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sitesnap.engine.backup import backup_paths
from sitesnap.errors import IntegrityError
from sitesnap.format.blob import DATA, TREE
from sitesnap.format.chunker import ChunkerParams
from sitesnap.format.crypto import FAST_TEST_KDF
from sitesnap.repository.check import check_repository
from sitesnap.repository.repository import Repository
from sitesnap.storage.local import LocalStorage

PASSWORD = "campaign"
CAMPAIGN = int(os.environ.get("SITESNAP_CAMPAIGN", "3"))
KINDS = ["config", "key", "index", "snapshot", "data-pack", "tree-pack"]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A small repository and, per kind, the relative paths of its files of that kind."""
    base = tmp_path_factory.mktemp("corruption")
    src = base / "src"
    (src / "deep" / "er").mkdir(parents=True)
    (src / "big.bin").write_bytes(random.Random(1).randbytes(700_000))
    (src / "notes.txt").write_text("hello\n" * 500)
    (src / "deep" / "er" / "x").write_bytes(b"x" * 100)
    os.symlink("notes.txt", src / "link")
    root = base / "repo"
    repo = Repository.init(LocalStorage(root), PASSWORD, kdf=FAST_TEST_KDF,
                           chunker=ChunkerParams(64 << 10, 16 << 10, 256 << 10, seed=7))
    repo.pack_target = 256 << 10
    backup_paths(repo, [str(src)])
    (src / "notes.txt").write_text("changed\n" * 300)
    (src / "deep" / "new").write_bytes(random.Random(2).randbytes(50_000))
    backup_paths(repo, [str(src)])
    kinds: dict[str, list[str]] = {k: [] for k in KINDS}
    kinds["config"] = ["config"]
    for prefix, kind in (("keys/", "key"), ("index/", "index"), ("snapshots/", "snapshot")):
        kinds[kind] = sorted(i.name for i in repo.storage.list(prefix))
    for pack_id, entries in repo.index.packs().items():
        name = f"data/{pack_id.hex()[:2]}/{pack_id.hex()}"
        types = {e.type for e in entries}
        if DATA in types:
            kinds["data-pack"].append(name)
        if TREE in types:
            kinds["tree-pack"].append(name)
    repo.close()
    assert all(kinds[k] for k in KINDS), kinds
    assert len(kinds["index"]) >= 2 and len(kinds["snapshot"]) == 2
    return {"root": root, "kinds": kinds}


def copy_of(template: dict[str, Any], dest: Path) -> Path:
    shutil.copytree(template["root"], dest)
    return dest


def detect(root: Path) -> tuple[bool, str]:
    """(damage found, every message) from opening and ``check --read-data``, as the CLI does."""
    try:
        repo = Repository.open(LocalStorage(root), PASSWORD)
    except IntegrityError as exc:
        return True, exc.message
    with repo:
        report = check_repository(repo, read_data=True)
    return not report.ok, "\n".join(report.errors)


def object_label(rel: str) -> str:
    """What a message must contain to name the object: its ID (key IDs may be shortened)."""
    name = rel.rsplit("/", 1)[-1]
    return name[:8] if rel.startswith("keys/") else name


def flip(path: Path, rng: random.Random) -> int:
    data = bytearray(path.read_bytes())
    bit = rng.randrange(len(data) * 8)
    data[bit // 8] ^= 1 << (bit % 8)
    path.write_bytes(bytes(data))
    return bit


def truncate(path: Path, rng: random.Random) -> int:
    data = path.read_bytes()
    keep = rng.randrange(len(data))
    path.write_bytes(data[:keep])
    return keep


def test_good_repository_passes(template: dict[str, Any], tmp_path: Path, run_cli: Callable[..., Any]) -> None:
    root = copy_of(template, tmp_path / "repo")
    assert detect(root) == (False, "")
    result = run_cli("check", "--read-data", repo=root, password=PASSWORD)
    assert result.code == 0, result.stderr
    assert "no errors were found" in result.stdout


@pytest.mark.parametrize("damage", ["flip", "truncate"])
@pytest.mark.parametrize("kind", KINDS)
def test_campaign(template: dict[str, Any], tmp_path: Path, kind: str, damage: str) -> None:
    rng = random.Random(f"{kind}-{damage}")
    failures = []
    for attempt in range(CAMPAIGN):
        rel = rng.choice(template["kinds"][kind])
        root = copy_of(template, tmp_path / f"r{attempt}")
        where = (flip if damage == "flip" else truncate)(root / rel, rng)
        found, text = detect(root)
        if not found or object_label(rel) not in text:
            failures.append(f"{damage} {rel} at {where}: found={found} {text[:300]!r}")
        shutil.rmtree(root)
    assert not failures, failures


@pytest.mark.parametrize("damage", ["flip", "truncate"])
@pytest.mark.parametrize("kind", KINDS)
def test_cli_check_exits_14_and_names_the_object(
    template: dict[str, Any], tmp_path: Path, run_cli: Callable[..., Any], kind: str, damage: str
) -> None:
    rng = random.Random(f"cli-{kind}-{damage}")
    rel = template["kinds"][kind][0]
    root = copy_of(template, tmp_path / "repo")
    (flip if damage == "flip" else truncate)(root / rel, rng)
    result = run_cli("check", "--read-data", repo=root, password=PASSWORD)
    assert result.code == 14, (result.code, result.stderr)
    assert object_label(rel) in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("kind", ["index", "data-pack", "tree-pack"])
def test_deleted_objects_are_found(template: dict[str, Any], tmp_path: Path, kind: str) -> None:
    for rel in template["kinds"][kind]:
        root = copy_of(template, tmp_path / "repo")
        (root / rel).unlink()
        found, text = detect(root)
        assert found, (rel, text)
        if kind != "index":  # a lost index shows as blobs missing from the index
            assert object_label(rel) in text
        shutil.rmtree(root)


def test_deleted_config_or_keys_mean_no_repository(
    template: dict[str, Any], tmp_path: Path, run_cli: Callable[..., Any]
) -> None:
    for rel in ["config", template["kinds"]["key"][0]]:
        root = copy_of(template, tmp_path / "repo")
        (root / rel).unlink()
        result = run_cli("check", repo=root, password=PASSWORD)
        assert result.code == 10, result.stderr
        assert "Traceback" not in result.stderr
        shutil.rmtree(root)


@pytest.mark.parametrize("kind", ["key", "index", "snapshot", "data-pack", "tree-pack"])
def test_duplicated_objects_under_a_wrong_name_are_found(template: dict[str, Any], tmp_path: Path, kind: str) -> None:
    rel = template["kinds"][kind][0]
    root = copy_of(template, tmp_path / "repo")
    fake = "0" * 63 + "1"
    directory = rel.rsplit("/", 1)[0]
    if kind.endswith("pack"):
        directory = "data/00"
        (root / directory).mkdir(exist_ok=True)
    shutil.copyfile(root / rel, root / directory / fake)
    found, text = detect(root)
    assert found and object_label(f"{directory}/{fake}") in text, text


def test_duplicated_index_under_its_own_content_is_harmless(template: dict[str, Any], tmp_path: Path) -> None:
    """Two indexes naming the same packs (a retried upload) are not damage."""
    root = copy_of(template, tmp_path / "repo")
    repo = Repository.open(LocalStorage(root), PASSWORD)
    with repo:
        repo.load_index()
        rel = template["kinds"]["index"][0]
        idx = repo.read_index(rel.rsplit("/", 1)[-1])
        repo.write_index(idx)  # same content, new nonce, so a new name
    assert detect(root) == (False, "")
