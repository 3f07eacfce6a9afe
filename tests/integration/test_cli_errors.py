"""User errors through the real ``sitesnap`` command: one line, the documented exit code, no traceback.

Exit codes: wrong password 12, no repository 10, repository exists 11,
locked 13, full disk 16, and 3 for "snapshot saved, but some files could not
be read" (restic's convention).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sitesnap.engine.backup import backup_paths
from sitesnap.errors import NoSpace
from sitesnap.format.crypto import FAST_TEST_KDF
from sitesnap.repository.check import check_repository
from sitesnap.repository.repository import Repository
from sitesnap.storage.base import ObjectInfo, Storage
from sitesnap.storage.local import LocalStorage

PASSWORD = "correct horse battery staple"  # the run_cli fixture's default


def assert_one_line_error(result: Any, code: int, *words: str) -> None:
    assert result.code == code, (result.code, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert lines and lines[0].startswith("sitesnap: error: "), result.stderr
    assert all(ln.startswith(("sitesnap: error: ", "hint: ", "warning: ")) for ln in lines), result.stderr
    for word in words:
        assert word.lower() in lines[0].lower(), (word, lines[0])


@pytest.fixture
def repo_dir(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    Repository.init(LocalStorage(root), PASSWORD, kdf=FAST_TEST_KDF).close()
    return root


@pytest.fixture
def src(tmp_path: Path) -> Path:
    path = tmp_path / "src"
    path.mkdir()
    (path / "a.txt").write_text("hello")
    return path


def test_wrong_password(repo_dir: Path, src: Path, run_cli: Callable[..., Any]) -> None:
    assert_one_line_error(run_cli("snapshots", repo=repo_dir, password="nope"), 12, "wrong password")
    assert_one_line_error(run_cli("backup", str(src), repo=repo_dir, password="nope"), 12)


def test_missing_repository(tmp_path: Path, src: Path, run_cli: Callable[..., Any]) -> None:
    missing = tmp_path / "no-such-repo"
    assert_one_line_error(run_cli("backup", str(src), repo=missing), 10, str(missing))
    assert_one_line_error(run_cli("check", repo=missing), 10)
    assert not missing.exists() or not any(missing.iterdir())


def test_init_on_existing_repository(repo_dir: Path, run_cli: Callable[..., Any]) -> None:
    before = sorted(p.name for p in (repo_dir / "keys").iterdir())
    assert_one_line_error(run_cli("init", "--kdf", "scrypt", repo=repo_dir), 11, "already exists")
    assert sorted(p.name for p in (repo_dir / "keys").iterdir()) == before


def test_json_errors_are_json(repo_dir: Path, run_cli: Callable[..., Any]) -> None:
    result = run_cli("--json", "snapshots", repo=repo_dir, password="nope")
    assert result.code == 12 and "Traceback" not in result.stderr
    doc = json.loads(result.stdout.strip().splitlines()[-1])
    assert doc["error"] == "wrong_password" and doc["exit_code"] == 12


HOLD_LOCK = """
import sys, time
from sitesnap.repository.repository import Repository
from sitesnap.storage.local import LocalStorage
repo = Repository.open(LocalStorage(sys.argv[1]), sys.argv[2])
with repo.lock(exclusive=True, operation="prune"):
    print("locked", flush=True)
    sys.stdin.read()
"""


@pytest.fixture
def held_lock(repo_dir: Path) -> Iterator[subprocess.Popen[str]]:
    """Another live process holding an exclusive lock until its stdin closes."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(repo_dir), PASSWORD], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    yield proc
    assert proc.stdin is not None
    proc.stdin.close()
    proc.wait(timeout=30)


def test_locked_repository(repo_dir: Path, src: Path, run_cli: Callable[..., Any],
                           held_lock: subprocess.Popen[str]) -> None:
    result = run_cli("backup", str(src), repo=repo_dir)
    assert_one_line_error(result, 13, "locked", f"pid {held_lock.pid}")
    assert not (repo_dir / "snapshots").exists() or not any((repo_dir / "snapshots").iterdir())
    # 'unlock' without --remove-all leaves a live lock alone.
    assert run_cli("unlock", repo=repo_dir).code == 0
    assert_one_line_error(run_cli("check", repo=repo_dir), 13)


def test_lock_released_after_holder_exits(repo_dir: Path, src: Path, run_cli: Callable[..., Any]) -> None:
    proc = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(repo_dir), PASSWORD], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    proc.kill()
    proc.wait()
    assert run_cli("backup", str(src), repo=repo_dir).code == 0  # this host, dead pid: stale, removed


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root and setpriv")
def test_unreadable_file_still_makes_a_snapshot_exit_3(
    repo_dir: Path, src: Path, run_cli: Callable[..., Any], tmp_path: Path
) -> None:
    """Root cannot be denied a read, so the run drops the capabilities that bypass permissions."""
    (src / "secret").write_text("no")
    os.chmod(src / "secret", 0)
    locked_dir = src / "private"
    locked_dir.mkdir()
    (locked_dir / "inner").write_text("x")
    os.chmod(locked_dir, 0)
    exe = str(Path(sys.executable).with_name("sitesnap"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SITESNAP_")}
    env.update(SITESNAP_REPOSITORY=str(repo_dir), SITESNAP_PASSWORD=PASSWORD)
    proc = subprocess.run(["setpriv", "--bounding-set", "-dac_override,-dac_read_search", exe, "backup", str(src)],
                          env=env, capture_output=True, text=True, timeout=120)
    os.chmod(locked_dir, 0o755)
    assert proc.returncode == 3, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert "secret" in proc.stderr and "private" in proc.stderr
    assert "snapshot" in proc.stdout and "saved" in proc.stdout
    listing = run_cli("--json", "snapshots", repo=repo_dir)
    assert len(json.loads(listing.stdout)) == 1
    out = tmp_path / "out"
    assert run_cli("restore", "latest", "--target", str(out), repo=repo_dir).code == 0
    assert (out / "src" / "a.txt").read_text() == "hello"


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_full_disk_exit_16_and_repository_still_checks(
    tiny_disk: Path, src: Path, run_cli: Callable[..., Any]
) -> None:
    root = tiny_disk / "repo"
    Repository.init(LocalStorage(root), PASSWORD, kdf=FAST_TEST_KDF).close()
    assert run_cli("backup", str(src), repo=root).code == 0
    (src / "big.bin").write_bytes(os.urandom(3 << 20))
    result = run_cli("backup", str(src), repo=root)
    assert_one_line_error(result, 16, "no space")
    repo = Repository.open(LocalStorage(root), PASSWORD)
    report = check_repository(repo, read_data=True)
    assert report.ok, report.errors
    assert len(repo.load_snapshots()) == 1
    repo.close()
    (src / "big.bin").unlink()
    result = run_cli("backup", str(src), repo=root)
    assert result.code == 0, result.stderr


class FullDisk:
    """Refuses every write after the first ``room`` bytes with NoSpace, like a filling disk."""

    def __init__(self, inner: Storage, room: int) -> None:
        self.inner, self.room, self.properties = inner, room, inner.properties

    def write(self, name: str, data: bytes, *, exclusive: bool = False) -> None:
        if len(data) > self.room:
            raise NoSpace(name)
        self.room -= len(data)
        self.inner.write(name, data, exclusive=exclusive)

    def open_append(self, prefix: str) -> Any:
        """Packs written into temp files fill the same disk."""
        inner, disk = self.inner.open_append(prefix), self  # type: ignore[attr-defined]

        class Filling:
            def pwrite(self, data: bytes, offset: int) -> None:
                if len(data) > disk.room:
                    raise NoSpace(prefix)
                disk.room -= len(data)
                inner.pwrite(data, offset)

            def __getattr__(self, attr: str) -> Any:
                return getattr(inner, attr)

        return Filling()

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.inner, attr)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        return self.inner.list(prefix)


def test_no_space_through_the_python_api(make_repo: Callable[..., Repository], tmp_path: Path, src: Path) -> None:
    repo = make_repo(tmp_path / "r")
    backup_paths(repo, [str(src)])
    (src / "big.bin").write_bytes(os.urandom(2 << 20))
    full = Repository.open(FullDisk(LocalStorage(tmp_path / "r"), 600_000), PASSWORD)
    full.pack_target = 256 << 10
    with pytest.raises(NoSpace) as info:
        backup_paths(full, [str(src)])
    assert info.value.exit_code == 16
    fresh = Repository.open(LocalStorage(tmp_path / "r"), PASSWORD)
    assert check_repository(fresh, read_data=True).ok
    assert len(fresh.load_snapshots()) == 1
