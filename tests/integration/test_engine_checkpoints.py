"""Checkpoints: a running backup indexes its uploaded packs periodically; check sums up leftovers in one line."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from tests.conftest import PASSWORD

from sitesnap.engine.backup import backup_paths
from sitesnap.format.chunker import ChunkerParams
from sitesnap.repository.check import check_repository
from sitesnap.repository.repository import Repository
from sitesnap.storage.local import LocalStorage

CHUNKS = ChunkerParams(64 << 10, 16 << 10, 256 << 10, seed=3)



def test_uploaded_packs_are_indexed_while_the_backup_runs(tmp_path: Path,
                                                         make_repo: Callable[..., Repository]) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for i in range(6):
        (src / f"f{i}.bin").write_bytes(os.urandom(600_000))
    repo = make_repo(chunker=CHUNKS)
    repo.pack_target = 256 << 10  # many small packs
    seen: list[int] = []
    real_write = repo.index_files.write

    def counting_write(index: object) -> object:
        seen.append(repo.packer.stats.packs_written)
        return real_write(index)  # type: ignore[arg-type]

    repo.index_files.write = counting_write  # type: ignore[method-assign]
    backup_paths(repo, [str(src)], checkpoint_interval=1e-6)
    # Index files were written while packs were still being made, not only once at the end.
    assert len(seen) >= 3
    assert seen[0] < repo.packer.stats.packs_written


def test_check_sums_up_unreferenced_packs_in_one_line(tmp_path: Path,
                                                      make_repo: Callable[..., Repository]) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for i in range(4):
        (src / f"f{i}.bin").write_bytes(os.urandom(400_000))
    repo = make_repo(tmp_path / "repo", chunker=CHUNKS)
    repo.pack_target = 256 << 10
    repo.load_index()
    for path in sorted(src.iterdir()):
        repo.save_blob(1, path.read_bytes())
    repo.flush(write_index=False)  # packs written, no index names them: a backup cut off before its index
    assert repo.packer.stats.packs_written >= 2
    written = repo.packer.stats.packs_written
    repo.close()
    reopened = Repository.open(LocalStorage(tmp_path / "repo"), PASSWORD)
    reopened.load_index()
    report = check_repository(reopened)
    leftovers = [w for w in report.warnings if "not referenced by any index" in w]
    assert len(leftovers) == 1
    assert leftovers[0].startswith(f"{written} pack(s)")
    assert not report.errors
