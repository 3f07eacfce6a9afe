"""Two backups into one repository at the same time: both complete, check passes, dedup holds.

Run both as threads in one process (separate Repository objects, as two
processes would have) and as two real ``sitesnap backup`` processes.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sitesnap.engine.backup import BackupResult, backup_paths
from sitesnap.engine.restorer import Restorer
from sitesnap.progress import Tracker
from sitesnap.repository.check import check_repository
from sitesnap.repository.repository import Repository
from sitesnap.storage.local import LocalStorage

SHARED = 4 << 20


def two_sources(tmp_path: Path) -> tuple[Path, Path]:
    """Two trees that share a 4 MiB file and each have 1 MiB of their own."""
    shared = random.Random(5).randbytes(SHARED)
    out = []
    for name in ("alpha", "beta"):
        src = tmp_path / name
        src.mkdir()
        (src / "shared.bin").write_bytes(shared)
        (src / "own.bin").write_bytes(os.urandom(1 << 20))
        out.append(src)
    return out[0], out[1]


def test_two_backups_at_once_in_threads(make_repo: Callable[..., Repository], tmp_path: Path, password: str,
                                         repo_size: Callable[[Path], int], tree_state: Callable[..., Any]) -> None:
    root = tmp_path / "repo"
    make_repo(root).close()
    sources = two_sources(tmp_path)
    results: dict[str, BackupResult] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def run(src: Path) -> None:
        try:
            repo = Repository.open(LocalStorage(root), password)
            barrier.wait()
            results[src.name] = backup_paths(repo, [str(src)])
            repo.close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(s,)) for s in sources]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert set(results) == {"alpha", "beta"}
    repo = Repository.open(LocalStorage(root), password)
    assert check_repository(repo, read_data=True).ok
    assert len(repo.load_snapshots()) == 2
    # Racing writers may both store the shared file once; never more than that.
    assert repo_size(root) < 2 * SHARED + 2 * (1 << 20) + (1 << 20)
    for src in sources:
        out = tmp_path / f"out-{src.name}"
        snap = repo.find_snapshot(results[src.name].snapshot.id)
        Restorer(repo, Tracker("restore")).restore_tree(snap.tree, str(out))
        assert tree_state(out / src.name) == tree_state(src)
    # Afterwards the shared data is known: a third tree with it adds only its own bytes.
    third = tmp_path / "gamma"
    third.mkdir()
    shutil.copy(sources[0] / "shared.bin", third / "shared.bin")
    before = repo_size(root)
    backup_paths(repo, [str(third)])
    assert repo_size(root) - before < 64 << 10
    repo.close()


def test_two_backup_processes_at_once(make_repo: Callable[..., Repository], tmp_path: Path, password: str,
                                      repo_size: Callable[[Path], int], run_cli: Callable[..., Any]) -> None:
    root = tmp_path / "repo"
    make_repo(root).close()
    alpha, beta = two_sources(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SITESNAP_")}
    env.update(SITESNAP_REPOSITORY=str(root), SITESNAP_PASSWORD=password)
    exe = str(Path(sys.executable).with_name("sitesnap"))
    procs = [subprocess.Popen([exe, "backup", str(src)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for src in (alpha, beta)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert run_cli("check", "--read-data", repo=root).code == 0
    assert repo_size(root) < 2 * SHARED + 2 * (1 << 20) + (1 << 20)
    again = run_cli("backup", str(alpha), repo=root)
    assert again.code == 0 and "0 B" in again.stdout  # nothing added, by either earlier run
