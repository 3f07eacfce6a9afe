"""Crash campaign: ``kill -9`` of a real ``sitesnap copy`` and ``sitesnap restore`` at random moments.

copy: after each kill both repositories pass ``check --read-data``, the dead
process's locks do not block the next run, the next ``copy`` completes, and
every snapshot in the destination restores exactly the tree its original was
taken of.

restore: a killed restore may leave a partial tree (some files missing,
directory metadata not yet applied) and ``.sitesnap-tmp-<pid>-*`` files, but
never a partially written file under a final name: every regular file at a
final name holds the complete content of the snapshot's file.  Rerunning the
restore into the same target completes, removes the dead run's temporary
files, and yields a tree exactly equal to the snapshot (contents, modes,
mtimes, symlinks); ``--delete`` also removes what the snapshot lacks.

``SITESNAP_COPY_KILLS`` and ``SITESNAP_RESTORE_KILLS`` set the number of kills
(default 4 each); ``SITESNAP_CRASH_SEED`` the random moments.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sitesnap.engine.backup import backup_paths
from sitesnap.engine.restorer import Restorer
from sitesnap.format.chunker import ChunkerParams
from sitesnap.format.crypto import FAST_TEST_KDF
from sitesnap.progress import Tracker
from sitesnap.repository.repository import Repository
from sitesnap.storage.local import LocalStorage

SITESNAP = str(Path(sys.executable).with_name("sitesnap"))
SRC_PASSWORD = "copy source"
DST_PASSWORD = "copy destination"
COPY_KILLS = int(os.environ.get("SITESNAP_COPY_KILLS", "4"))
RESTORE_KILLS = int(os.environ.get("SITESNAP_RESTORE_KILLS", "4"))
SEED = int(os.environ.get("SITESNAP_CRASH_SEED", "2026"))
CHUNKS = ChunkerParams(64 << 10, 16 << 10, 256 << 10, seed=7)
TMP_PREFIX = ".sitesnap-tmp-"


def make_source(root: Path, seed: int, big: int) -> None:
    """Small files, a symlink, and a few files of ``big`` bytes (random, so nothing compresses)."""
    rng = random.Random(seed)
    for sub in ("media", "media/thumbs", "static"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i in range(40):
        (root / "media" / "thumbs" / f"t{seed}-{i}.jpg").write_bytes(rng.randbytes(rng.randrange(1_000, 30_000)))
    for i in range(3):
        (root / "media" / f"video{seed}-{i}.mp4").write_bytes(rng.randbytes(big))
    (root / "static" / "site.css").write_text(f"/* {seed} */\n" * 500)
    link = root / "static" / "latest"
    if not link.is_symlink():
        link.symlink_to("../media")


def cli_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SITESNAP_")}
    env.update(values)
    return env


def kill_at(args: list[str], env: dict[str, str], after: float) -> int:
    """Run ``sitesnap *args`` and SIGKILL it ``after`` seconds in (unless it ended); returns its exit code."""
    proc = subprocess.Popen([SITESNAP, *args], env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        proc.wait(timeout=after)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    return proc.returncode


def timed(args: list[str], env: dict[str, str]) -> float:
    started = time.monotonic()
    proc = subprocess.run([SITESNAP, *args], env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return time.monotonic() - started


def locks(root: Path) -> list[str]:
    return [info.name for info in LocalStorage(root).list("locks/")]


# --- copy --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def copy_source(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A source repository with three snapshots of an evolving tree, and an empty destination."""
    from tests.conftest import describe_tree

    work = tmp_path_factory.mktemp("copy-crash")
    src = work / "site"
    repo = Repository.init(LocalStorage(work / "src"), SRC_PASSWORD, kdf=FAST_TEST_KDF, chunker=CHUNKS)
    expected: dict[str, Any] = {}
    with repo:
        for n in range(3):
            make_source(src, n, 6 << 20)
            result = backup_paths(repo, [str(src)])
            expected[result.snapshot.id] = describe_tree(src)
    # Independent keys: the copy reads, re-hashes and re-encrypts every blob (the slower, riskier path).
    Repository.init(LocalStorage(work / "empty"), DST_PASSWORD, kdf=FAST_TEST_KDF, chunker=CHUNKS).close()
    return {"work": work, "src": work / "src", "empty": work / "empty", "expected": expected}


def restore_copies(root: Path, scratch: Path, describe: Callable[[Path], Any]) -> dict[str, Any]:
    """original snapshot id -> description of what its copy in ``root`` restores."""
    out: dict[str, Any] = {}
    with Repository.open(LocalStorage(root), DST_PASSWORD) as repo:
        repo.load_index()
        for snap in repo.load_snapshots():
            shutil.rmtree(scratch, ignore_errors=True)
            Restorer(repo, Tracker("restore")).restore_tree(snap.tree, str(scratch))
            assert snap.original is not None
            out[snap.original] = describe(scratch / "site")
    shutil.rmtree(scratch, ignore_errors=True)
    return out


@pytest.mark.timeout(600)
def test_kill_minus_9_during_copy(copy_source: dict[str, Any], tmp_path: Path, run_cli: Callable[..., Any],
                                  tree_state: Callable[[Path], Any]) -> None:
    src, dst = copy_source["src"], tmp_path / "dst"
    expected = copy_source["expected"]
    env = cli_env(SITESNAP_FROM_PASSWORD=SRC_PASSWORD, SITESNAP_TO_PASSWORD=DST_PASSWORD)
    args = ["copy", "--from", str(src), "--to", str(dst)]
    shutil.copytree(copy_source["empty"], dst)
    duration = timed(args, env)
    rng = random.Random(SEED)
    killed = partial = 0
    for round_no in range(COPY_KILLS):
        shutil.rmtree(dst)
        shutil.copytree(copy_source["empty"], dst)
        code = kill_at(args, env, rng.uniform(0.3, 1.0) * duration)
        if code == -signal.SIGKILL:
            killed += 1
        else:
            assert code == 0, f"round {round_no}: copy failed with {code}"
        with Repository.open(LocalStorage(dst), DST_PASSWORD) as repo:
            survivors = len(repo.snapshot_ids())
        partial += 0 < survivors < len(expected)
        for root, password in ((src, SRC_PASSWORD), (dst, DST_PASSWORD)):
            check = run_cli("check", "--read-data", repo=root, password=password)
            assert check.code == 0, (round_no, root.name, check.stdout, check.stderr)
        # Whatever the dead process left is stale: the rerun takes its locks and completes.
        again = subprocess.run([SITESNAP, *args], env=env, stdin=subprocess.DEVNULL, capture_output=True,
                               text=True, timeout=120)
        assert again.returncode == 0, (round_no, again.stderr)
        assert not locks(src) and not locks(dst), "the dead copy's locks were not cleared"
        check = run_cli("check", "--read-data", repo=dst, password=DST_PASSWORD)
        assert check.code == 0, (round_no, check.stdout, check.stderr)
        restored = restore_copies(dst, tmp_path / "scratch", tree_state)
        assert sorted(restored) == sorted(expected), f"round {round_no}: not every snapshot was copied once"
        for sid, state in expected.items():
            assert restored[sid] == state, f"round {round_no}: the copy of {sid[:8]} does not restore its tree"
    assert killed >= max(1, COPY_KILLS // 4), f"only {killed} of {COPY_KILLS} copies were killed"
    print(f"copy kill -9 campaign ({duration:.2f} s per copy): {killed} of {COPY_KILLS} killed "
          f"({partial} with some snapshots copied), {len(expected)} snapshots verified after each")


# --- restore -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def restore_source(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A repository with one snapshot of a tree holding large files (so a kill lands mid-file)."""
    from tests.conftest import describe_tree

    work = tmp_path_factory.mktemp("restore-crash")
    src = work / "site"
    make_source(src, 1, 24 << 20)
    repo = Repository.init(LocalStorage(work / "repo"), SRC_PASSWORD, kdf=FAST_TEST_KDF, chunker=CHUNKS)
    with repo:
        sid = backup_paths(repo, [str(src)]).snapshot.id
    entries = describe_tree(src)["entries"].items()
    contents = {b"site/" + rel: entry[1] for rel, entry in entries if entry[0] == "file"}
    return {"repo": work / "repo", "src": src, "sid": sid, "contents": contents}


def without_temps(state: dict[str, Any]) -> dict[str, Any]:
    entries = {k: v for k, v in state["entries"].items() if not os.path.basename(k).startswith(TMP_PREFIX.encode())}
    return {**state, "entries": entries}


def final_files_complete(target: Path, contents: dict[bytes, bytes]) -> list[bytes]:
    """Check every regular file under a final name holds its full content; returns the temp files seen."""
    temps: list[bytes] = []
    base = os.fsencode(target)
    for dirpath, _dirs, files in os.walk(base):
        for name in files:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, base)
            if name.startswith(TMP_PREFIX.encode()):
                temps.append(rel)
                continue
            if os.path.islink(full):
                continue
            assert rel in contents, f"{rel!r}: a file the snapshot does not have"
            with open(full, "rb") as fh:
                assert fh.read() == contents[rel], f"{rel!r}: partially written under its final name"
    return temps


@pytest.mark.timeout(600)
def test_kill_minus_9_during_restore(restore_source: dict[str, Any], tmp_path: Path,
                                     tree_state: Callable[[Path], Any]) -> None:
    target = tmp_path / "target"
    env = cli_env(SITESNAP_REPOSITORY=str(restore_source["repo"]), SITESNAP_PASSWORD=SRC_PASSWORD)
    args = ["restore", restore_source["sid"], "--target", str(target)]
    duration = timed(args, env)
    expected = tree_state(restore_source["src"])
    assert tree_state(target / "site") == expected
    rng = random.Random(SEED)
    killed = orphans = survivors = 0
    for round_no in range(RESTORE_KILLS):
        shutil.rmtree(target)
        # Most of a short restore is interpreter start-up: aim at the later part, where files are written.
        code = kill_at(args, env, rng.uniform(0.4, 1.0) * duration)
        if code == -signal.SIGKILL:
            killed += 1
        else:
            assert code == 0, f"round {round_no}: restore failed with {code}"
        temps = final_files_complete(target, restore_source["contents"])
        # A plain rerun into the partly restored target completes and every final name is right ...
        again = subprocess.run([SITESNAP, *args], env=env, stdin=subprocess.DEVNULL, capture_output=True,
                               text=True, timeout=120)
        assert again.returncode == 0, (round_no, again.stderr)
        assert not locks(restore_source["repo"]), "the dead restore's lock was not cleared"
        assert without_temps(tree_state(target / "site")) == expected, f"round {round_no}: rerun differs"
        # ... and removes the dead run's temp files (their pid is gone).
        left = final_files_complete(target, restore_source["contents"])
        assert not left, f"round {round_no}: temp files of the killed restore survived a rerun: {left}"
        assert tree_state(target / "site") == expected, f"round {round_no}: rerun differs"
        orphans += len(temps)
        survivors += len(left)
        again = subprocess.run([SITESNAP, *args, "--delete"], env=env, stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, timeout=120)
        assert again.returncode == 0, (round_no, again.stderr)
        assert sorted(os.listdir(target)) == ["site"]
        assert tree_state(target / "site") == expected, f"round {round_no}: rerun with --delete differs"
    assert killed >= max(1, RESTORE_KILLS // 4), f"only {killed} of {RESTORE_KILLS} restores were killed"
    print(f"restore kill -9 campaign ({duration:.2f} s per restore): {killed} of {RESTORE_KILLS} killed, "
          f"{orphans} temp files left by the dead runs, {survivors} still there after a plain rerun, "
          "0 after a rerun with --delete")
