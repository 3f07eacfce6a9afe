"""Global CLI options that map onto storage wrappers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SITESNAP = str(Path(sys.executable).with_name("sitesnap"))


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SITESNAP_PASSWORD": "limits test"}
    env.pop("SITESNAP_REPOSITORY", None)
    return subprocess.run([SITESNAP, *args], cwd=cwd, env=env, text=True, capture_output=True, timeout=120)


def test_bandwidth_limits_are_parsed_and_applied(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.bin").write_bytes(os.urandom(300_000))
    repo = str(tmp_path / "repo")
    assert run("-r", repo, "init", "--kdf", "scrypt", cwd=tmp_path).returncode == 0
    ok = run("-r", repo, "--limit-upload", "50MiB/s", "--limit-download", "50MiB/s", "backup", "data", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    restored = run("-r", repo, "--limit-download", "50MiB/s", "restore", "latest", "--target", "out", cwd=tmp_path)
    assert restored.returncode == 0, restored.stderr
    assert (tmp_path / "out" / "data" / "a.bin").read_bytes() == (tmp_path / "data" / "a.bin").read_bytes()


def test_a_malformed_rate_is_a_usage_error(tmp_path: Path) -> None:
    bad = run("-r", str(tmp_path / "repo"), "--limit-upload", "fast", "snapshots", cwd=tmp_path)
    assert bad.returncode == 2
    assert "--limit-upload" in bad.stderr and "Traceback" not in bad.stderr
