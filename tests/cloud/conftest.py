"""Fixtures for repository-level tests against real servers on loopback.

The moto S3 server and OpenSSH's sshd are the ones the storage tests start
(``tests/storage/servers.py``); this module adds what whole-repository tests
need: a fresh bucket per test, an SFTP directory per test, a mixed file
tree and a description of it that restores are compared with, a site
configuration writer and a way to run ``sitesnap`` as a user would.
"""

from __future__ import annotations

import os
import random
import shutil
import stat
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.storage.conftest import s3_server, ssh_server  # noqa: F401  (fixtures, re-exported)
from tests.storage.servers import S3Server, SSHServer

from sitesnap.engine.restorer import Restorer
from sitesnap.format.chunker import ChunkerParams
from sitesnap.format.crypto import FAST_TEST_KDF
from sitesnap.progress import Tracker
from sitesnap.repository.repository import Repository
from sitesnap.storage.base import Storage

PASSWORD = "cloud test password"
SITESNAP = str(Path(sys.executable).with_name("sitesnap"))
# Small chunks so a few MiB of data make many blobs and, with a small pack target, many packs.
CHUNKER = ChunkerParams(64 << 10, 16 << 10, 256 << 10, seed=424242)
PACK_TARGET = 256 << 10  # many packs from a few MiB, so faults land on many uploads
KEY_ENV = {"CLOUD_TEST_KEY_ID": "testing-key", "CLOUD_TEST_SECRET": "testing-secret"}


@pytest.fixture
def bucket(s3_server: S3Server) -> str:  # noqa: F811
    """A new, empty bucket on the moto server."""
    name = f"cloud-{uuid.uuid4().hex[:16]}"
    s3_server.client().create_bucket(Bucket=name)
    return name


@pytest.fixture
def sftp_dir(ssh_server: SSHServer) -> Iterator[Path]:  # noqa: F811
    """A directory on the SFTP server for one test (removed afterwards)."""
    path = ssh_server.root / f"t-{uuid.uuid4().hex[:12]}"
    path.mkdir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def ssh_home(tmp_path: Path, ssh_server: SSHServer) -> Path:  # noqa: F811
    """A home directory whose ``~/.ssh`` holds the client key and the server's host key.

    Running ``sitesnap`` with ``HOME`` set to it is how a user with a
    configured SSH client uses ``-r sftp://...`` without any options.
    """
    home = tmp_path / "home"
    ssh = home / ".ssh"
    ssh.mkdir(parents=True)
    ssh.chmod(0o700)
    shutil.copy(ssh_server.client_key, ssh / "id_ed25519")
    (ssh / "id_ed25519").chmod(0o600)
    shutil.copy(ssh_server.known_hosts, ssh / "known_hosts")
    return home


def sftp_url(server: SSHServer, path: Path) -> str:
    return f"sftp://{server.user}@{server.host}:{server.port}{path}"


def sftp_options(server: SSHServer) -> dict[str, Any]:
    return {"key_file": str(server.client_key), "known_hosts": str(server.known_hosts)}


@contextmanager
def opened(storage: Storage, *, init: bool = False) -> Iterator[Repository]:
    """The repository on ``storage`` (created first with ``init``), with small packs; closed afterwards."""
    if init:
        repo = Repository.init(storage, PASSWORD, kdf=FAST_TEST_KDF, chunker=CHUNKER)
    else:
        repo = Repository.open(storage, PASSWORD)
    repo.pack_target = PACK_TARGET
    with repo:
        yield repo


# --- trees -----------------------------------------------------------------------------------


def make_tree(root: Path, seed: int, size: int = 3 << 20) -> Path:
    """A mixed tree of about ``size`` bytes: random and text files, empty files, nesting, a symlink."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    written = 0
    i = 0
    while written < size:
        sub = root / f"d{i % 5}" / f"e{i % 2}"
        sub.mkdir(parents=True, exist_ok=True)
        sizes = [0, rng.randint(1, 4 << 10), rng.randint(16 << 10, 300 << 10), rng.randint(400 << 10, 900 << 10)]
        n = rng.choice(sizes)
        if i % 3:
            data = rng.randbytes(n)
        else:
            words = [b"post", b"comment", b"flask", b"site", b"snapshot", b"\xe4\xb8\xad\xe6\x96\x87"]
            data = b" ".join(rng.choice(words) for _ in range(n // 6 + 1))[:n]
        path = sub / f"f{i}.{'bin' if i % 3 else 'txt'}"
        path.write_bytes(data)
        os.utime(path, ns=(1_700_000_000_000_000_000 + i * 10**9,) * 2)
        written += len(data)
        i += 1
    (root / "d0" / "link").symlink_to("e0")
    (root / "d1" / "private.txt").write_text("not for everyone\n")
    (root / "d1" / "private.txt").chmod(0o600)
    return root


def mutate_tree(root: Path, seed: int) -> None:
    """Change a few files, add some and delete one, as a live site does between backups."""
    rng = random.Random(seed)
    files = sorted(p for p in root.rglob("*.bin") if p.is_file() and not p.is_symlink())
    for path in rng.sample(files, min(3, len(files) - 1)):
        path.write_bytes(rng.randbytes(rng.randint(1, 200 << 10)))
    files[-1].unlink()
    for j in range(4):
        (root / f"new-{seed}-{j}.bin").write_bytes(rng.randbytes(rng.randint(1, 120 << 10)))


def tree_state(root: Path) -> dict[str, tuple[Any, ...]]:
    """Every entry under ``root``: files by content, mode and mtime; directories by mode; symlinks by target."""
    out: dict[str, tuple[Any, ...]] = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            full = Path(dirpath) / name
            rel = str(full.relative_to(root))
            st = full.lstat()
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("symlink", os.readlink(full))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", stat.S_IMODE(st.st_mode))
            else:
                out[rel] = ("file", full.read_bytes(), stat.S_IMODE(st.st_mode), st.st_mtime_ns)
    return out


def restore_snapshot(repo: Repository, snapshot_id: str, target: Path) -> Path:
    """Restore one snapshot into a fresh ``target``; returns ``target``."""
    shutil.rmtree(target, ignore_errors=True)
    snap = repo.load_snapshot(snapshot_id)
    Restorer(repo, Tracker("restore")).restore_tree(snap.tree, str(target))
    return target


# --- the command line -----------------------------------------------------------------------


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> Run:
    """Run ``sitesnap`` in a subprocess with a clean ``SITESNAP_*`` environment plus ``env``."""
    full = {k: v for k, v in os.environ.items() if not k.startswith(("SITESNAP_", "AWS_"))}
    full.update({"SITESNAP_PASSWORD": PASSWORD, "PYTHONUNBUFFERED": "1", **KEY_ENV, **(env or {})})
    proc = subprocess.run([SITESNAP, *args], env=full, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    return Run(proc.returncode, proc.stdout, proc.stderr)


def s3_repository_toml(name: str, url: str, endpoint: str, **extra: str) -> str:
    """A ``[[repositories]]`` table for an S3 repository on a local server, keys from the environment."""
    lines = [f'[[repositories]]\nname = "{name}"\nurl = "{url}"']
    lines += [f"{key} = {value}" for key, value in extra.items()]
    lines.append(
        "[repositories.s3]\n"
        f'endpoint = "{endpoint}"\n'
        'region = "us-east-1"\n'
        'addressing_style = "path"\n'
        'access_key_id = { env = "CLOUD_TEST_KEY_ID" }\n'
        'secret_access_key = { env = "CLOUD_TEST_SECRET" }\n'
    )
    return "\n".join(lines)


def sftp_repository_toml(name: str, url: str, server: SSHServer, **extra: str) -> str:
    lines = [f'[[repositories]]\nname = "{name}"\nurl = "{url}"']
    lines += [f"{key} = {value}" for key, value in extra.items()]
    lines.append(
        "[repositories.sftp]\n"
        f'key_file = "{server.client_key}"\n'
        f'known_hosts = "{server.known_hosts}"\n'
    )
    return "\n".join(lines)


def site_toml(path: Path, sources: str, repositories: list[str], state_dir: Path) -> Path:
    runtime = f'[runtime]\nstate_dir = "{state_dir}"\n'
    path.write_text('[site]\nname = "blog"\n\n' + sources + "\n" + "\n".join(repositories) + "\n" + runtime)
    return path


@pytest.fixture
def cli() -> Callable[..., Run]:
    return run_cli
