"""The frozen version-1 repository in tests/fixtures/repo-v1 still opens, lists, checks and restores.

If a format change breaks this test, the change needs a migration or a
reader for version 1, never a new fixture.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sitesnap.engine.browse import walk_tree
from sitesnap.engine.restorer import Restorer
from sitesnap.progress import Tracker
from sitesnap.repository.check import check_repository
from sitesnap.repository.repository import Repository
from sitesnap.storage.local import LocalStorage

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "repo-v1"
PASSWORD = "sitesnap-v1-fixture"
FIRST, SECOND = "55b1f44646b1ab119f79ab53c47806669c424833690a2bf229f87be907e3a48c", (
    "153379691c8b081f10271edad1cf9b15355111e3029cfa4f44d4fa8bf96b9097"
)
MTIME = 1767323045 * 10**9


@pytest.fixture
def fixture_copy(tmp_path: Path) -> Path:
    """A copy, so that locks taken by the commands never touch the frozen files."""
    return Path(shutil.copytree(FIXTURE, tmp_path / "repo-v1", ignore=shutil.ignore_patterns("README.md")))


def test_open_list_and_check(fixture_copy: Path) -> None:
    with Repository.open(LocalStorage(fixture_copy), PASSWORD) as repo:
        assert repo.config.version == 1
        snaps = repo.load_snapshots()
        assert [s.id for s in snaps] == [FIRST, SECOND]
        assert snaps[0].tags == ["fixture"] and snaps[0].hostname == "fixture-host"
        assert snaps[0].paths == ["/tmp/fxsrc/site"] and snaps[1].parent == FIRST
        report = check_repository(repo, read_data=True)
        assert report.ok, report.errors
        assert report.snapshots == 2 and report.blobs_read > 0
        paths = [p for p, _ in walk_tree(repo, snaps[0].tree)]
        assert "/site/uploads/图片.txt" in paths and os.fsdecode(b"/site/bad-\xff") in paths


@pytest.mark.parametrize("snapshot_id, readme", [(FIRST, "hello sitesnap\n"),
                                                 (SECOND, "hello sitesnap\nsecond line\n")])
def test_restore_gives_the_frozen_content(fixture_copy: Path, tmp_path: Path, snapshot_id: str, readme: str) -> None:
    out = tmp_path / "out"
    with Repository.open(LocalStorage(fixture_copy), PASSWORD) as repo:
        repo.load_index()
        Restorer(repo, Tracker("restore")).restore_tree(repo.find_snapshot(snapshot_id).tree, str(out))
    site = out / "site"
    assert (site / "README.txt").read_text() == readme
    assert (site / "README.txt").stat().st_mtime_ns == MTIME
    assert os.stat(site / "uploads" / "hard").st_ino == os.stat(site / "README.txt").st_ino
    assert (site / "uploads" / "图片.txt").read_text() == "上传的文件\n"
    assert stat.S_IMODE((site / "uploads" / "图片.txt").stat().st_mode) == 0o600
    assert (site / "empty").read_bytes() == b""
    assert os.readlink(site / "link") == "README.txt"
    assert (site / os.fsdecode(b"bad-\xff")).read_bytes() == b"x"
    assert (site / "空目录").is_dir() and not any((site / "空目录").iterdir())


def test_cli_reads_the_frozen_repository(fixture_copy: Path, tmp_path: Path, run_cli: Callable[..., Any]) -> None:
    listing = run_cli("--json", "snapshots", repo=fixture_copy, password=PASSWORD)
    assert listing.code == 0, listing.stderr
    assert [s["id"] for s in json.loads(listing.stdout)] == [FIRST, SECOND]
    assert run_cli("check", "--read-data", repo=fixture_copy, password=PASSWORD).code == 0
    restored = run_cli("restore", FIRST[:8], "--target", str(tmp_path / "t"), repo=fixture_copy, password=PASSWORD)
    assert restored.code == 0, restored.stderr
    assert (tmp_path / "t" / "site" / "README.txt").read_text() == "hello sitesnap\n"
