"""``sitesnap mount`` for real: a kernel FUSE mount read back and compared with the backed-up tree."""

from __future__ import annotations

import errno
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import PASSWORD, SITESNAP, describe_tree
from tests.integration.test_cli_errors import assert_one_line_error
from tests.recovery.sites import PASSWORD as SITE_PASSWORD
from tests.recovery.sites import cli, fill, write_site

from sitesnap.format.blob import DATA
from sitesnap.format.tree import Node
from sitesnap.repository.repository import Repository, pack_name

pytestmark = pytest.mark.skipif(not os.path.exists("/dev/fuse"),
                                reason="no /dev/fuse on this machine: FUSE mounts impossible")

MTIME = 1_700_000_000_123_456_789


def make_tree(root: Path) -> Path:
    """Files of several sizes (empty, tiny, multi-chunk), nested directories, a symlink, modes and mtimes."""
    src = root / "site"
    (src / "uploads" / "2026" / "12").mkdir(parents=True)
    (src / "config").mkdir()
    (src / "empty").write_bytes(b"")
    (src / "config" / "app.ini").write_text("[app]\nsecret = 1\n")
    (src / "uploads" / "small.bin").write_bytes(os.urandom(70_000))
    (src / "uploads" / "2026" / "12" / "video.mp4").write_bytes(os.urandom(3 * 1024 * 1024 + 12_345))
    (src / "uploads" / "2026" / "big.txt").write_bytes(b"line of text\n" * 400_000)  # 5.2 MB, compressible
    (src / "current").symlink_to("uploads/2026/12/video.mp4")
    (src / "dangling").symlink_to("../nowhere")
    (src / "many").mkdir()  # more entries than one readdir reply holds
    for i in range(400):
        (src / "many" / f"thumb-{i:04d}.txt").write_text(f"thumb {i}\n")
    os.chmod(src / "config" / "app.ini", 0o600)
    os.chmod(src / "uploads" / "small.bin", 0o444)
    os.chmod(src / "config", 0o750)
    for i, path in enumerate(sorted(src.rglob("*"), reverse=True)):
        os.utime(path, ns=(MTIME, MTIME + i * 1_000_000_007), follow_symlinks=False)
    return src


@contextmanager
def mounted(repo: Path | None, mnt: Path, log: Path, *extra: str, stop: int = signal.SIGTERM,
            env: dict[str, str] | None = None, cwd: Path | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """``sitesnap mount`` running in the background until the block ends; then ``stop`` and a clean exit."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SITESNAP_")}
    if repo is not None:
        full_env.update(SITESNAP_REPOSITORY=str(repo), SITESNAP_PASSWORD=PASSWORD)
    full_env.update(env or {})
    with open(log, "wb") as err:
        proc = subprocess.Popen([SITESNAP, *extra, "mount", str(mnt)], env=full_env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=err, cwd=cwd)
    try:
        deadline = time.monotonic() + 60
        while not os.path.ismount(mnt):
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "mount did not appear"
            time.sleep(0.05)
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(stop)
        code = proc.wait(timeout=60)
    assert code == 0, log.read_text()
    assert not os.path.ismount(mnt)
    assert "Traceback" not in log.read_text()


def snapshot_tree(repo_dir: Path) -> tuple[Repository, list[tuple[str, Node]]]:
    from sitesnap.engine.browse import walk_tree
    from sitesnap.storage.local import LocalStorage

    repo = Repository.open(LocalStorage(repo_dir), PASSWORD)
    repo.load_index()
    snap = repo.find_snapshot("latest")
    return repo, list(walk_tree(repo, snap.tree))


def test_mount_reads_every_file_as_backed_up(tmp_path: Path, make_repo: Callable[..., Repository],
                                             run_cli: Callable[..., Any]) -> None:
    make_repo(tmp_path / "repo").close()
    src = make_tree(tmp_path)
    first = run_cli("backup", str(src), "--tag", "nightly", repo=tmp_path / "repo")
    assert first.code == 0, first.stderr
    (src / "config" / "app.ini").write_text("[app]\nsecret = 2\n")
    os.utime(src / "config" / "app.ini", ns=(MTIME, MTIME))
    time.sleep(1.1)  # a distinct second, so the two snapshot directories are named by time alone
    second = run_cli("backup", str(src), repo=tmp_path / "repo")
    assert second.code == 0, second.stderr
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    with mounted(tmp_path / "repo", mnt, tmp_path / "mount.log"):
        assert sorted(os.listdir(mnt)) == ["ids", "latest", "snapshots", "tags"]
        stamps = sorted(os.listdir(mnt / "snapshots"))
        assert len(stamps) == 2 and all(s.endswith("Z") for s in stamps)
        assert os.listdir(mnt / "latest") == ["site"]
        assert describe_tree(mnt / "latest" / "site") == describe_tree(src)
        old_ini = mnt / "snapshots" / stamps[0] / "site" / "config" / "app.ini"
        assert old_ini.read_text() == "[app]\nsecret = 1\n"
        assert os.listdir(mnt / "tags" / "nightly") == [stamps[0]]
        assert (mnt / "tags" / "nightly" / stamps[0] / "site" / "empty").read_bytes() == b""
        assert len(os.listdir(mnt / "ids")) == 2
        for rel in ("uploads/2026/12/video.mp4", "empty", "current", "dangling", "config"):
            ours, theirs = os.lstat(mnt / "latest" / "site" / rel), os.lstat(src / rel)
            assert (ours.st_mode, ours.st_mtime_ns) == (theirs.st_mode, theirs.st_mtime_ns), rel
            assert rel == "config" or ours.st_size == theirs.st_size, rel
        assert os.readlink(mnt / "latest" / "site" / "dangling") == "../nowhere"
        video = mnt / "latest" / "site" / "uploads" / "2026" / "12" / "video.mp4"
        with open(video, "rb") as fh:  # random access across chunk boundaries
            fh.seek(2 * 1024 * 1024 - 10)
            assert fh.read(100_000) == (src / "uploads/2026/12/video.mp4").read_bytes()[2 * 1024 * 1024 - 10:][:100_000]
        with pytest.raises(OSError) as refused:
            (mnt / "latest" / "site" / "empty").write_bytes(b"x")
        assert refused.value.errno in (errno.EROFS, errno.EACCES)


def test_damaged_pack_reads_as_eio(tmp_path: Path, make_repo: Callable[..., Repository],
                                   run_cli: Callable[..., Any]) -> None:
    make_repo(tmp_path / "repo").close()
    src = make_tree(tmp_path)
    assert run_cli("backup", str(src), repo=tmp_path / "repo").code == 0
    repo, nodes = snapshot_tree(tmp_path / "repo")
    video = next(n for p, n in nodes if p.endswith("/video.mp4"))
    pack_id, offset, length, _ = repo.blob_location(DATA, video.content[1]) or (b"", 0, 0, 0)
    repo.close()
    pack = tmp_path / "repo" / pack_name(pack_id)
    raw = bytearray(pack.read_bytes())
    raw[offset + length // 2] ^= 0x01
    os.chmod(pack, 0o644)
    pack.write_bytes(bytes(raw))
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    with mounted(tmp_path / "repo", mnt, tmp_path / "mount.log"):
        site = mnt / "latest" / "site"
        with pytest.raises(OSError) as damaged:
            (site / "uploads" / "2026" / "12" / "video.mp4").read_bytes()
        assert damaged.value.errno == errno.EIO
        assert (site / "uploads" / "small.bin").read_bytes() == (src / "uploads" / "small.bin").read_bytes()
    assert "warning: video.mp4: " in (tmp_path / "mount.log").read_text()


def test_mount_refuses_missing_and_busy_mountpoints(tmp_path: Path, make_repo: Callable[..., Repository],
                                                   run_cli: Callable[..., Any]) -> None:
    make_repo(tmp_path / "repo").close()
    src = make_tree(tmp_path)
    assert run_cli("backup", str(src), repo=tmp_path / "repo").code == 0
    assert_one_line_error(run_cli("mount", str(tmp_path / "absent"), repo=tmp_path / "repo"), 2, "not an existing")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    with mounted(tmp_path / "repo", mnt, tmp_path / "mount.log", stop=signal.SIGINT):
        assert_one_line_error(run_cli("mount", str(mnt), repo=tmp_path / "repo"), 2, "busy")
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "pyfuse3.py").write_text("raise ImportError('no libfuse3 here')\n")
    without = run_cli("mount", str(mnt), repo=tmp_path / "repo",
                      env={"PYTHONPATH": os.pathsep.join([str(shadow), os.environ.get("PYTHONPATH", "")])})
    assert_one_line_error(without, 18, "pyfuse3")
    assert "pip install" in without.stderr


def test_mount_site_shows_database_sources_as_stored(tmp_path: Path) -> None:
    """With -c sitesnap.toml: files under files/<source>/, a SQLite source as its consistent copy."""
    fill("sqlite", str(tmp_path / "shop.db"))
    write_site(tmp_path, "sqlite", str(tmp_path / "shop.db"))
    assert cli(tmp_path, "backup").returncode == 0
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    with mounted(None, mnt, tmp_path / "mount.log", "-c", "sitesnap.toml", cwd=tmp_path,
                 env={"ROWDIFF_PASSWORD": SITE_PASSWORD}):
        assert sorted(os.listdir(mnt / "latest")) == ["db", "files"]
        assert (mnt / "latest" / "files" / "web" / "index.html").read_text() == "<h1>v1</h1>"
        copy = mnt / "latest" / "db" / "db.sqlite"
        db = sqlite3.connect(f"{copy.as_uri()}?mode=ro&immutable=1", uri=True)
        try:
            assert db.execute("SELECT count(*), sum(price) FROM item").fetchone() == (30, 46500)
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        finally:
            db.close()


def test_write_only_host_cannot_mount(tmp_path: Path, make_repo: Callable[..., Repository],
                                      run_cli: Callable[..., Any]) -> None:
    make_repo(tmp_path / "repo").close()
    src = make_tree(tmp_path)
    assert run_cli("backup", str(src), repo=tmp_path / "repo").code == 0
    key = tmp_path / "host.key"
    assert run_cli("key", "write-only", "export", "--out", str(key), repo=tmp_path / "repo").code == 0
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    res = run_cli("--write-only-key", str(key), "mount", str(mnt), repo=tmp_path / "repo", password=None)
    assert_one_line_error(res, 29, "write-only key")
    assert not os.path.ismount(mnt)
