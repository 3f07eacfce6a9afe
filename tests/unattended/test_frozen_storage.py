"""A cloud endpoint that stops answering fails a backup within the documented bound.

The S3 server is frozen with SIGSTOP: it still accepts TCP connections (the
kernel does) but never answers, the way a hung endpoint behaves.  With
``timeout``, ``connect_timeout`` and ``deadline`` set small through the
repository's options, the backup must give up, exit non-zero with a storage
error (no traceback) and be recorded as a failed run in the catalog.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

from tests.cloud.conftest import make_tree, run_cli, s3_repository_toml, site_toml
from tests.storage.servers import S3Server
from tests.unattended.conftest import FreezableS3

TIMEOUT = 1.0
DEADLINE = 3.0
# Every storage call ends within deadline + timeout; a failing backup makes a few
# (the failing write, releasing its lock); start-up costs a few seconds on a busy machine.
BOUND = 4 * (DEADLINE + TIMEOUT) + 15


def _site(tmp_path: Path, s3: S3Server, timeout: float = TIMEOUT, deadline: float = DEADLINE) -> tuple[Path, Path]:
    """A site with one files source and one S3 repository with small timeouts; initialised."""
    bucket = f"frozen-{uuid.uuid4().hex[:12]}"
    s3.client().create_bucket(Bucket=bucket)
    src = make_tree(tmp_path / "uploads", 5, size=1 << 20)
    sources = f'[[sources]]\nname = "uploads"\ntype = "files"\npath = "{src}"\n'
    repo = s3_repository_toml("cloud", f"s3://{bucket}/blog", s3.endpoint)
    repo += f'timeout = "{timeout:g}s"\nconnect_timeout = "1s"\ndeadline = "{deadline:g}s"\nretries = 4\n'
    cfg = site_toml(tmp_path / "sitesnap.toml", sources, [repo], tmp_path / "state")
    made = run_cli("-c", str(cfg), "init", "--kdf", "scrypt")
    assert made.code == 0, made.stderr
    return cfg, src


def test_backup_against_a_frozen_endpoint_fails_in_bounded_time(tmp_path: Path, freezable_s3: FreezableS3) -> None:
    cfg, src = _site(tmp_path, freezable_s3.server)
    (src / "new.bin").write_bytes(b"x" * 200_000)

    with freezable_s3.frozen():
        started = time.monotonic()
        res = run_cli("-c", str(cfg), "backup", timeout=BOUND + 60)
        took = time.monotonic() - started
        assert res.code == 15, (res.code, res.stdout, res.stderr)
        assert "Traceback" not in res.stderr
        assert "deadline" in res.stderr or "timed out" in res.stderr.lower()
        assert took < BOUND, f"the backup took {took:.0f}s against a frozen endpoint (bound {BOUND:.0f}s)"
        runs = run_cli("-c", str(cfg), "runs", "--kind", "backup", "--json", timeout=30)
    assert runs.code == 0, runs.stderr
    recorded = json.loads(runs.stdout)["runs"]
    assert [r["status"] for r in recorded] == ["failed"]
    assert recorded[0]["error_code"] == "storage"
    print(f"backup against a frozen endpoint failed after {took:.1f}s: {res.stderr.strip()}")


def test_status_reads_the_recorded_size_while_the_endpoint_is_frozen(
    tmp_path: Path, freezable_s3: FreezableS3
) -> None:
    # Long timeouts: a status that touched the frozen storage would take at least 30 s.
    cfg, _ = _site(tmp_path, freezable_s3.server, timeout=30, deadline=60)
    done = run_cli("-c", str(cfg), "backup")
    assert done.code == 0, done.stderr
    listed = json.loads(run_cli("-c", str(cfg), "runs", "--json").stdout)["runs"]
    recorded = listed[0]["result"]["repository_sizes"]["cloud"]
    assert recorded["used_bytes"] > 100_000 and recorded["snapshots"] == 1

    with freezable_s3.frozen():
        started = time.monotonic()
        res = run_cli("-c", str(cfg), "status", "--json", timeout=60)
        took = time.monotonic() - started
    assert res.code in (0, 1), res.stderr  # healthy or not: it answered
    assert took < 25, f"status took {took:.1f}s with the storage frozen"
    (site,) = json.loads(res.stdout)["sites"]
    (repo,) = site["repositories"]
    assert repo["name"] == "cloud" and repo["used_bytes"] == recorded["used_bytes"] and repo["snapshots"] == 1
    assert repo["measured_at"] == recorded["measured_at"] and repo["size_age_seconds"] >= 0
    time.sleep(1.1)
    human = run_cli("-c", str(cfg), "status", timeout=60)
    assert "cloud:" in human.stdout and "size as of" in human.stdout, human.stdout
