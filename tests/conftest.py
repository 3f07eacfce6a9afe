"""Fixtures shared by the engine and CLI tests: repositories, CLI runs, tree snapshots.

Kept generic on purpose: a fresh repository with a fast key derivation, a way
to run the ``sitesnap`` command (in a subprocess, like a user), and a
description of a directory tree on disk that two trees can be compared by.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sitesnap.format.chunker import ChunkerParams
from sitesnap.format.crypto import FAST_TEST_KDF
from sitesnap.repository.repository import Repository
from sitesnap.storage.local import LocalStorage

PASSWORD = "correct horse battery staple"
SITESNAP = str(Path(sys.executable).with_name("sitesnap"))


@pytest.fixture
def password() -> str:
    return PASSWORD


@pytest.fixture
def make_repo(tmp_path: Path) -> Callable[..., Repository]:
    """``make_repo(path=None, *, chunker=None, storage=None)``: a new repository (fast KDF).

    The default chunker uses small chunks (16/64/256 KiB) so tests with a few
    MiB of data still produce many chunks.
    """
    counter = [0]

    def make(path: Path | None = None, *, chunker: ChunkerParams | None = None, storage: Any = None) -> Repository:
        if storage is None:
            counter[0] += 1
            storage = LocalStorage(path or tmp_path / f"repo{counter[0]}")
        params = chunker or ChunkerParams(64 << 10, 16 << 10, 256 << 10, seed=int.from_bytes(os.urandom(7), "little"))
        return Repository.init(storage, PASSWORD, kdf=FAST_TEST_KDF, chunker=params)

    return make


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


@pytest.fixture
def run_cli() -> Callable[..., CliResult]:
    """``run_cli(*args, repo=None, password=PASSWORD, env=None, **popen)``: run ``sitesnap`` as a user would."""

    def run(*args: str, repo: str | os.PathLike[str] | None = None, password: str | None = PASSWORD,
            env: dict[str, str] | None = None, timeout: float = 120, **kwargs: Any) -> CliResult:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("SITESNAP_")}
        full_env["PYTHONUNBUFFERED"] = "1"
        if repo is not None:
            full_env["SITESNAP_REPOSITORY"] = str(repo)
        if password is not None:
            full_env["SITESNAP_PASSWORD"] = password
        full_env.update(env or {})
        proc = subprocess.run([SITESNAP, *args], env=full_env, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, **kwargs)
        return CliResult(proc.returncode, proc.stdout, proc.stderr)

    return run


def describe_tree(root: str | os.PathLike[str]) -> dict[str, Any]:
    """Everything a restore must reproduce, keyed by relative path (bytes).

    Files: content, mode, mtime; directories: mode, mtime; symlinks: target,
    mtime; plus the hardlink groups (sets of paths sharing an inode).  The root
    directory's own metadata is left out (it is the restore target).
    """
    base = os.fsencode(os.fspath(root))
    entries: dict[bytes, tuple[Any, ...]] = {}
    inodes: dict[tuple[int, int], list[bytes]] = {}

    def walk(path: bytes, rel: bytes) -> None:
        for name in sorted(os.listdir(path)):
            full = os.path.join(path, name)
            child = rel + b"/" + name if rel else name
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                entries[child] = ("symlink", os.readlink(full), st.st_mtime_ns)
            elif stat.S_ISDIR(st.st_mode):
                walk(full, child)
                entries[child] = ("dir", stat.S_IMODE(st.st_mode), st.st_mtime_ns)
            else:
                with open(full, "rb") as fh:
                    content = fh.read()
                entries[child] = ("file", content, stat.S_IMODE(st.st_mode), st.st_mtime_ns)
                if st.st_nlink > 1:
                    inodes.setdefault((st.st_dev, st.st_ino), []).append(child)

    walk(base, b"")
    groups = sorted(sorted(g) for g in inodes.values() if len(g) > 1)
    return {"entries": entries, "hardlinks": groups}


@pytest.fixture
def tree_state() -> Callable[[str | os.PathLike[str]], dict[str, Any]]:
    return describe_tree


def dir_size(path: str | os.PathLike[str]) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


@pytest.fixture
def repo_size() -> Callable[[str | os.PathLike[str]], int]:
    """Bytes stored under a local repository's directory."""
    return dir_size
