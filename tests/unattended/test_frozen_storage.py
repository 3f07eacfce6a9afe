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
from tests.unattended.conftest import FreezableS3

TIMEOUT = 1.0
DEADLINE = 3.0
# Every storage call ends within deadline + timeout; a failing backup makes a few
# (the failing write, releasing its lock); start-up costs a few seconds on a busy machine.
BOUND = 4 * (DEADLINE + TIMEOUT) + 15


def test_backup_against_a_frozen_endpoint_fails_in_bounded_time(tmp_path: Path, freezable_s3: FreezableS3) -> None:
    s3 = freezable_s3.server
    bucket = f"frozen-{uuid.uuid4().hex[:12]}"
    s3.client().create_bucket(Bucket=bucket)
    src = make_tree(tmp_path / "uploads", 5, size=1 << 20)
    sources = f'[[sources]]\nname = "uploads"\ntype = "files"\npath = "{src}"\n'
    repo = s3_repository_toml("cloud", f"s3://{bucket}/blog", s3.endpoint)
    repo += f'timeout = "{TIMEOUT:g}s"\nconnect_timeout = "1s"\ndeadline = "{DEADLINE:g}s"\nretries = 4\n'
    cfg = site_toml(tmp_path / "sitesnap.toml", sources, [repo], tmp_path / "state")
    made = run_cli("-c", str(cfg), "init", "--kdf", "scrypt")
    assert made.code == 0, made.stderr
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
