"""Ctrl-C stops a backup within seconds, and what was uploaded is indexed and reused by the next backup."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

SITESNAP = str(Path(sys.executable).with_name("sitesnap"))
FILE_SIZE = 16 << 20


def _env() -> dict[str, str]:
    env = {**os.environ, "SITESNAP_PASSWORD": "interrupt test", "COLUMNS": "120"}
    env.pop("SITESNAP_REPOSITORY", None)
    env.pop("SITESNAP_CONFIG", None)
    return env


def _packs(repo: Path) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in (repo / "data").rglob("*") if p.is_file() and ".tmp" not in p.name}


def test_ctrl_c_stops_within_two_seconds_and_the_next_backup_reuses_the_upload(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for i in range(8):
        (data / f"media{i}.bin").write_bytes(os.urandom(FILE_SIZE))
    total = 8 * FILE_SIZE
    repo = tmp_path / "repo"
    env = _env()
    init = subprocess.run([SITESNAP, "-r", str(repo), "init", "--kdf", "scrypt"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert init.returncode == 0, init.stderr
    proc = subprocess.Popen([SITESNAP, "-r", str(repo), "--limit-upload", "16MiB/s", "backup", "data"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while len(_packs(repo)) < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "the backup ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    interrupted_at = time.monotonic()
    _, stderr = proc.communicate(timeout=30)
    took = time.monotonic() - interrupted_at
    assert proc.returncode == 130, stderr
    assert took < 2.0, f"took {took:.2f}s to stop"
    assert "stopping" in stderr and "Traceback" not in stderr
    uploaded = _packs(repo)
    uploaded_bytes = sum(uploaded.values())
    assert uploaded_bytes >= 2 * FILE_SIZE
    assert uploaded_bytes < total, "the interrupted backup uploaded everything"

    again = subprocess.run([SITESNAP, "-r", str(repo), "--json", "backup", "data"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    summary = [json.loads(line) for line in again.stdout.splitlines() if '"summary"' in line][-1]
    # Only what the interrupted run had not uploaded is uploaded again (plus trees and packing overhead).
    assert summary["bytes_added"] <= total - uploaded_bytes + (1 << 20)
    new_packs = set(_packs(repo)) - set(uploaded)
    assert sum(_packs(repo)[p] for p in new_packs) <= total - uploaded_bytes + (1 << 20)


def test_ctrl_c_stops_a_site_backup_and_records_it_cancelled(tmp_path: Path) -> None:
    from .site import make_site
    from .site import sitesnap as run

    make_site(tmp_path, upload_bytes=FILE_SIZE)
    for i in range(6):
        (tmp_path / "uploads" / f"media{i}.bin").write_bytes(os.urandom(FILE_SIZE))
    repo = tmp_path / "repo"
    from .site import env as site_env

    proc = subprocess.Popen([SITESNAP, "-c", "sitesnap.toml", "--limit-upload", "16MiB/s", "backup", "--in-process"],
                            cwd=tmp_path, env=site_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while len(_packs(repo)) < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "the backup ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    interrupted_at = time.monotonic()
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    assert time.monotonic() - interrupted_at < 2.0
    assert "stopping" in stderr and "Traceback" not in stderr
    runs = json.loads(run("-c", "sitesnap.toml", "--json", "runs", "--kind", "backup", cwd=tmp_path).stdout)
    items = runs if isinstance(runs, list) else runs.get("runs", runs.get("items", []))
    assert [r["status"] for r in items] == ["cancelled"]
