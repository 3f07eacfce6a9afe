"""Deduplication: an unchanged tree costs nothing, a 1 % change costs about 1 %.

Repository growth is measured on disk (every byte of every file under the
repository directory), and "reads no file contents" is the archiver's own
count of bytes read, which every read goes through.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest

from sitesnap.engine.backup import backup_paths
from sitesnap.repository.repository import Repository
from sitesnap.storage.local import LocalStorage

BIG = 16 << 20


@pytest.fixture
def site(tmp_path: Path) -> Path:
    src = tmp_path / "site"
    (src / "uploads" / "2026").mkdir(parents=True)
    (src / "big.db").write_bytes(random.Random(3).randbytes(BIG))
    for i in range(200):
        (src / "uploads" / "2026" / f"img{i}.jpg").write_bytes(random.Random(i).randbytes(2000 + i))
        (src / f"page{i}.html").write_text(f"<p>page {i}</p>\n" * (i + 1))
    return src


def test_unchanged_rebackup_reads_nothing_and_adds_under_one_percent(
    make_repo: Callable[..., Repository], site: Path, tmp_path: Path, repo_size: Callable[[Path], int],
    password: str,
) -> None:
    repo = make_repo(tmp_path / "repo")
    first = backup_paths(repo, [str(site)])
    assert first.archive.bytes_read > BIG
    size1 = repo_size(tmp_path / "repo")
    second = backup_paths(repo, [str(site)])
    growth = repo_size(tmp_path / "repo") - size1
    assert second.archive.bytes_read == 0
    assert second.archive.files_unchanged == 401
    assert second.archive.bytes_added == 0
    assert second.parent == first.snapshot.id
    assert second.snapshot.tree == first.snapshot.tree
    assert growth < size1 // 100, (growth, size1)
    # A new Repository object (as in a new process) sees the same: nothing read, nothing added.
    repo.close()
    reopened = Repository.open(LocalStorage(tmp_path / "repo"), password)
    third = backup_paths(reopened, [str(site)])
    assert third.archive.bytes_read == 0 and third.archive.bytes_added == 0
    reopened.close()


def test_full_backup_reads_everything_but_adds_nothing(
    make_repo: Callable[..., Repository], site: Path, tmp_path: Path, repo_size: Callable[[Path], int]
) -> None:
    repo = make_repo(tmp_path / "repo")
    backup_paths(repo, [str(site)])
    size1 = repo_size(tmp_path / "repo")
    full = backup_paths(repo, [str(site)], read_all=True, snapshot_type="full")
    assert full.archive.bytes_read >= BIG
    assert full.archive.bytes_added == 0
    assert repo_size(tmp_path / "repo") - size1 < size1 // 100


@pytest.mark.parametrize("edit", ["overwrite", "insert"])
def test_one_percent_change_adds_about_one_percent(
    make_repo: Callable[..., Repository], site: Path, tmp_path: Path, repo_size: Callable[[Path], int], edit: str
) -> None:
    """Overwriting or inserting 1 % in the middle of a big file stores about 1 %, not the file."""
    repo = make_repo(tmp_path / "repo")
    backup_paths(repo, [str(site)])
    size1 = repo_size(tmp_path / "repo")
    big = site / "big.db"
    data = bytearray(big.read_bytes())
    patch = random.Random(9).randbytes(BIG // 100)
    middle = BIG // 2
    if edit == "overwrite":
        data[middle : middle + len(patch)] = patch
    else:
        data[middle:middle] = patch
    big.write_bytes(bytes(data))
    result = backup_paths(repo, [str(site)])
    growth = repo_size(tmp_path / "repo") - size1
    assert result.archive.files_changed == 1 and result.archive.files_unchanged == 400
    assert BIG // 100 <= growth < 3 * BIG // 100, (growth, size1)


def test_tree_walk_reads_each_tree_pack_once(tmp_path: Path) -> None:
    """A backup with a parent reads its parent's trees from whole packs, not one request per tree."""

    src = tmp_path / "src"
    for i in range(60):
        d = src / f"d{i}" / "sub"
        d.mkdir(parents=True)
        (d / "f.txt").write_text(f"file {i}\n")
    fast = {"name": "scrypt", "n": 1024, "r": 8, "p": 1}
    repo = Repository.init(LocalStorage(str(tmp_path / "repo")), "pw", kdf=fast)
    backup_paths(repo, [str(src)])
    repo.close()

    reads: list[tuple[str, int, int | None]] = []

    class Counting(LocalStorage):
        def read(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
            reads.append((name, offset, length))
            return super().read(name, offset, length)

    again = Repository.open(Counting(str(tmp_path / "repo")), "pw")
    backup_paths(again, [str(src)])
    pack_reads = [r for r in reads if r[0].startswith("data/")]
    assert len(pack_reads) <= 4, pack_reads  # 121 trees, one tree pack: a range read, then the pack
    assert any(length is None for _, _, length in pack_reads)
    again.close()


def test_unchanged_directories_reuse_the_parent_tree_without_encoding(
    make_repo: Callable[..., Repository], site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sitesnap.engine.archiver as archiver

    repo = make_repo(tmp_path / "repo")
    first = backup_paths(repo, [str(site)])
    encoded: list[int] = []
    real = archiver.encode_tree

    def counting(nodes: list[archiver.Node]) -> bytes:
        encoded.append(len(nodes))
        return real(nodes)

    monkeypatch.setattr(archiver, "encode_tree", counting)
    second = backup_paths(repo, [str(site)])
    # Only the synthetic snapshot root is encoded; site/, uploads/ and uploads/2026/ are reused.
    assert len(encoded) == 1 and second.snapshot.tree == first.snapshot.tree
    encoded.clear()
    (site / "uploads" / "2026" / "img7.jpg").write_bytes(b"edited")
    third = backup_paths(repo, [str(site)])
    # The changed file's directory and each directory above it get a new tree; nothing else does.
    assert len(encoded) == 4 and third.snapshot.tree != first.snapshot.tree
    assert third.archive.files_changed == 1 and third.archive.files_unchanged == 400


def test_progress_counts_every_unchanged_file(
    make_repo: Callable[..., Repository], site: Path, tmp_path: Path
) -> None:
    from sitesnap.progress import Progress

    repo = make_repo(tmp_path / "repo")
    backup_paths(repo, [str(site)])
    seen: list[Progress] = []
    second = backup_paths(repo, [str(site)], sink=seen.append)
    last = seen[-1]
    # Unchanged files are reported in batches; none is lost from the totals.
    assert last.finished and last.files_done == second.archive.files_unchanged == 401
    assert last.bytes_done == second.archive.bytes_total == sum(
        f.stat().st_size for f in site.rglob("*") if f.is_file())
