"""forget: by retention policy (site or flags, with reasons), by ID; prune afterwards; JSON output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from .conftest import PASSWORD, Workload, assert_intact, dir_bytes, open_repo

SITESNAP = str(Path(sys.executable).with_name("sitesnap"))


def run(*args: str, repo: Path | None = None, cwd: Path | None = None,
        env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SITESNAP_")}
    env["SITESNAP_PASSWORD"] = PASSWORD
    env.update(env_extra or {})
    if repo is not None:
        env["SITESNAP_REPOSITORY"] = str(repo)
    return subprocess.run([SITESNAP, *args], env=env, capture_output=True, text=True, timeout=120, cwd=cwd,
                          stdin=subprocess.DEVNULL)


def test_flags_forget_with_reasons_then_prune(workload: Workload, tmp_path: Path) -> None:
    dry = run("forget", "--dry-run", "--keep-last", "2", "--max-age", "all=off", "--json", repo=workload.path)
    assert dry.returncode == 0, dry.stderr
    doc = json.loads(dry.stdout)
    assert doc["dry_run"] and sorted(doc["forget"]) == sorted(workload.order[:2])
    reasons = {d["id"]: d["reasons"] for g in doc["retention"]["groups"] for d in g["decisions"]}
    assert "last snapshot" in reasons[workload.order[-2]] and reasons[workload.order[0]] == []
    with open_repo(workload.path) as repo:
        assert len(repo.snapshot_ids()) == 4
    before = dir_bytes(workload.path)
    done = run("forget", "--keep-last", "2", "--max-age", "all=off", "--prune", "--max-unused", "0%",
               repo=workload.path)
    assert done.returncode == 0, done.stderr
    assert "remove" in done.stdout and "keep" in done.stdout and "freed" in done.stdout
    assert dir_bytes(workload.path) < before
    assert_intact(workload.path, {s: workload.expected[s] for s in workload.order[2:]}, tmp_path)


def test_default_policy_keeps_young_snapshots(workload: Workload) -> None:
    res = run("forget", "--keep-last", "1", repo=workload.path)
    assert res.returncode == 0, res.stderr
    assert "type manual has no age limit" in res.stdout
    with open_repo(workload.path) as repo:
        assert len(repo.snapshot_ids()) == 4


def test_explicit_ids(workload: Workload) -> None:
    res = run("forget", workload.order[1][:8], "--json", repo=workload.path)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["removed"] == [workload.order[1]]
    with open_repo(workload.path) as repo:
        assert workload.order[1] not in repo.snapshot_ids()
    both = run("forget", workload.order[2][:8], "--keep-last", "1", repo=workload.path)
    assert both.returncode == 2 and "not both" in both.stderr


def test_site_retention_is_the_default(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "uploads").mkdir(parents=True)
    (site / "uploads" / "a.txt").write_text("hello")
    cfg = tmp_path / "sitesnap.toml"
    cfg.write_text(f"""
[site]
name = "blog"

[[sources]]
name = "uploads"
type = "files"
path = "{site / 'uploads'}"

[[repositories]]
name = "main"
url = "{tmp_path / 'repo'}"

[retention]
full = "90d"
incremental = "1h"
keep_last = 2
""")
    assert run("-c", str(cfg), "init", "--kdf", "scrypt").returncode == 0
    for _ in range(4):
        (site / "uploads" / "a.txt").write_text(os.urandom(8).hex())
        res = run("-c", str(cfg), "backup", "--no-copy")
        assert res.returncode == 0, res.stderr
    plan = run("-c", str(cfg), "forget", "--dry-run", "--json")
    assert plan.returncode == 0, plan.stderr
    doc = json.loads(plan.stdout)
    # All are younger than 1 h, so the type age keeps them all; keep_last alone would keep 2.
    assert doc["forget"] == [] and len(doc["keep"]) == 4
    assert doc["retention"]["policy"]["keep_last"] == 2
    override = run("-c", str(cfg), "forget", "--max-age", "incremental=off", "--json")
    assert override.returncode == 0, override.stderr
    assert len(json.loads(override.stdout)["removed"]) == 2
