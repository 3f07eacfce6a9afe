"""Property tests: random trees and byte streams survive backup and restore exactly.

A random tree has non-UTF-8 and Chinese names, empty files and directories,
symlinks (also dangling and absolute), hardlinks, odd modes (setuid, sticky,
read-only directories) and mtimes; after a backup and a restore into an empty
directory, content, mode, mtime, symlink targets and hardlink groups must be
what they were.  ``SITESNAP_EXAMPLES=N`` raises the number of random trees.
"""

from __future__ import annotations

import io
import os
import random
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sitesnap.engine.archiver import Archiver
from sitesnap.engine.backup import backup_paths
from sitesnap.engine.restorer import Restorer
from sitesnap.format.chunker import ChunkerParams
from sitesnap.format.crypto import FAST_TEST_KDF
from sitesnap.progress import Tracker
from sitesnap.repository.check import check_repository
from sitesnap.repository.repository import Repository
from sitesnap.storage.memory import MemoryStorage

EXAMPLES = int(os.environ.get("SITESNAP_EXAMPLES", "30"))
PROPS = settings(max_examples=EXAMPLES, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                        HealthCheck.data_too_large])
SMALL_CHUNKS = ChunkerParams(64 << 10, 16 << 10, 256 << 10, seed=12345)

names = st.one_of(
    st.text(alphabet="abcxyz.-_ ", min_size=1, max_size=10),
    st.text(alphabet="备份网站快照数据文件上传", min_size=1, max_size=6),
    st.binary(min_size=1, max_size=10),
).map(lambda n: n.encode() if isinstance(n, str) else n).filter(
    lambda b: b not in (b".", b"..") and b"/" not in b and b"\0" not in b
)
mtimes = st.integers(0, 4_000_000_000 * 10**9)
file_modes = st.sampled_from([0o644, 0o600, 0o755, 0o400, 0o000, 0o777, 0o4755, 0o2750])
dir_modes = st.sampled_from([0o755, 0o700, 0o555, 0o1777, 0o750])
contents = st.one_of(
    st.just(b""),
    st.binary(max_size=600),
    # A few large, chunked files: (seed, size) expands to pseudo-random bytes.
    st.tuples(st.integers(0, 9), st.integers(16 << 10, 700 << 10)).map(
        lambda t: random.Random(t[0]).randbytes(t[1])
    ),
)


def entries(depth: int) -> st.SearchStrategy[dict[bytes, Any]]:
    leaf = st.one_of(
        st.tuples(st.just("file"), contents, file_modes, mtimes),
        st.tuples(st.just("symlink"), st.one_of(names, st.just(b"/tmp/nowhere/\xff"), st.just(b"../up")), mtimes),
    )
    if depth > 0:
        leaf = st.one_of(leaf, st.tuples(st.just("dir"), st.deferred(lambda: entries(depth - 1)), dir_modes, mtimes))
    return st.dictionaries(names, leaf, max_size=6)


@st.composite
def trees(draw: st.DrawFn) -> tuple[dict[bytes, Any], list[tuple[int, bytes]]]:
    top = draw(entries(3))
    # Hardlinks: (index of an existing file, new name next to the tree root).
    links = draw(st.lists(st.tuples(st.integers(0, 50), names), max_size=3))
    return top, links


def build(root: bytes, spec: dict[bytes, Any], links: list[tuple[int, bytes]]) -> None:
    files: list[bytes] = []
    dirs: list[tuple[bytes, int, int]] = []

    def make(path: bytes, tree: dict[bytes, Any]) -> None:
        for name, entry in tree.items():
            full = os.path.join(path, name)
            if entry[0] == "file":
                with open(full, "wb") as fh:
                    fh.write(entry[1])
                os.chmod(full, entry[2])
                os.utime(full, ns=(entry[3], entry[3]))
                files.append(full)
            elif entry[0] == "symlink":
                os.symlink(entry[1], full)
                os.utime(full, ns=(entry[2], entry[2]), follow_symlinks=False)
            else:
                os.mkdir(full)
                make(full, entry[1])
                dirs.append((full, entry[2], entry[3]))

    make(root, spec)
    taken = set(os.listdir(root))
    for index, name in links:
        if files and name not in taken:
            os.link(files[index % len(files)], os.path.join(root, name))
            taken.add(name)
    for path, mode, mtime in dirs:  # children first: dirs was filled post-order
        os.chmod(path, mode)
        os.utime(path, ns=(mtime, mtime))


@pytest.fixture(scope="module")
def shared_repo() -> Iterator[Repository]:
    repo = Repository.init(MemoryStorage(), "pw", kdf=FAST_TEST_KDF, chunker=SMALL_CHUNKS)
    yield repo
    repo.close()


def restore_latest(repo: Repository, target: str) -> None:
    snap = repo.find_snapshot("latest")
    Restorer(repo, Tracker("restore")).restore_tree(snap.tree, target)


@PROPS
@given(tree=trees())
def test_random_tree_round_trip(
    shared_repo: Repository, tree_state: Callable[..., Any], tree: tuple[dict[bytes, Any], list[Any]]
) -> None:
    describe_tree = tree_state
    spec, links = tree
    work = tempfile.mkdtemp(prefix="sitesnap-prop-")
    try:
        src = os.path.join(work, "site")
        os.mkdir(src)
        build(os.fsencode(src), spec, links)
        expected = describe_tree(src)
        backup_paths(shared_repo, [src])
        target = os.path.join(work, "restored")
        restore_latest(shared_repo, target)
        assert os.listdir(target) == ["site"]
        assert describe_tree(os.path.join(target, "site")) == expected
        # A second backup sees nothing to read, and restoring it gives the same tree again.
        again = backup_paths(shared_repo, [src])
        assert again.archive.bytes_read == 0
        target2 = os.path.join(work, "restored2")
        restore_latest(shared_repo, target2)
        assert describe_tree(os.path.join(target2, "site")) == expected
    finally:
        shutil.rmtree(work)


def test_round_trip_keeps_everything_in_a_hand_made_tree(
    make_repo: Callable[..., Repository], tree_state: Callable[..., Any], tmp_path: Path
) -> None:
    describe_tree = tree_state
    """The cases the random trees may miss, all at once, checked one by one."""
    src = tmp_path / "src"
    (src / "空目录").mkdir(parents=True)
    (src / "empty").write_bytes(b"")
    (src / os.fsdecode(b"bad-\xff\xfe")).write_bytes(b"latin1 \xe9")
    (src / "上传").mkdir()
    (src / "上传" / "图片.jpg").write_bytes(os.urandom(300_000))
    os.symlink("nowhere", src / "dangling")
    os.symlink("/etc/passwd", src / "absolute")
    os.link(src / "上传" / "图片.jpg", src / "hard")
    os.chmod(src / "empty", 0o4711)
    os.utime(src / "empty", ns=(1, 123_456_789_123_456_789))
    repo = make_repo()
    backup_paths(repo, [str(src)])
    restore_latest(repo, str(tmp_path / "out"))
    out = tmp_path / "out" / "src"
    assert describe_tree(out) == describe_tree(src)
    assert os.readlink(out / "dangling") == "nowhere"
    assert os.stat(out / "hard").st_ino == os.stat(out / "上传" / "图片.jpg").st_ino
    assert (out / os.fsdecode(b"bad-\xff\xfe")).read_bytes() == b"latin1 \xe9"
    assert os.stat(out / "empty").st_mode & 0o7777 == 0o4711
    assert os.stat(out / "empty").st_mtime_ns == 123_456_789_123_456_789
    assert check_repository(repo, read_data=True).ok


streams = st.one_of(
    st.binary(max_size=4096),
    st.tuples(st.integers(0, 99), st.sampled_from([16 << 10, (16 << 10) + 1, 256 << 10, 1 << 20, 3 << 20])).map(
        lambda t: random.Random(t[0]).randbytes(t[1])
    ),
    st.tuples(st.binary(min_size=1, max_size=100), st.integers(1, 20_000)).map(lambda t: t[0] * t[1]),
)


@PROPS
@given(data=streams)
def test_random_byte_stream_round_trip(shared_repo: Repository, data: bytes) -> None:
    with Archiver(shared_repo, shared_repo.config.chunker, Tracker("dump")) as archiver:
        node = archiver.archive_stream(b"dump.sql", io.BytesIO(data))
    shared_repo.flush()
    assert node.size == len(data)
    assert sum(shared_repo.index.lookup(0, c)[3] for c in node.content) == len(data)  # type: ignore[index]
    work = tempfile.mkdtemp(prefix="sitesnap-stream-")
    try:
        path = os.path.join(work, "dump.sql")
        Restorer(shared_repo, Tracker("restore")).restore_file_node(node, path)
        with open(path, "rb") as fh:
            assert fh.read() == data
    finally:
        shutil.rmtree(work)


def test_shared_repository_checks_clean(shared_repo: Repository) -> None:
    """Whatever the property tests stored above reads back without a single error."""
    report = check_repository(shared_repo, read_data=True)
    assert report.ok, report.errors
