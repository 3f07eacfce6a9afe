"""Session-wide real servers for the S3 and SFTP backend tests (started once, on loopback)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .servers import S3Server, SSHServer, find_sshd, start_moto, start_sshd, stop


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    proc, server = start_moto()
    try:
        yield server
    finally:
        stop(proc)


def _install_sshd() -> str | None:
    """Install OpenSSH's server with apt when missing; None when that is impossible."""
    env = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    for step in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "openssh-server"]):
        if find_sshd() is not None:
            break
        try:
            subprocess.run(step, check=True, capture_output=True, timeout=300, env=env)
        except (OSError, subprocess.SubprocessError):
            return None
    return find_sshd()


@pytest.fixture(scope="session")
def ssh_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSHServer]:
    if _install_sshd() is None:
        pytest.skip("OpenSSH sshd is not installed and 'apt-get install openssh-server' failed")
    base: Path = tmp_path_factory.mktemp("sshd")
    root = base / "sftp-root"
    root.mkdir()
    proc, server = start_sshd(base / "etc", root)
    try:
        yield server
    finally:
        stop(proc)
