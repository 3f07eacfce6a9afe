"""Append-only: a client that may not delete cannot destroy snapshots, but can still back up."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from sitesnap.engine.backup import backup_paths
from sitesnap.engine.forget import override_policy, parse_max_age, plan_forget
from sitesnap.errors import AppendOnlyError
from sitesnap.repository.prune import prune
from sitesnap.storage.local import LocalStorage
from sitesnap.storage.wrappers import AppendOnlyStorage

from .conftest import Workload, assert_intact, open_repo, tree_contents, write_files
from .test_forget_cli import run


def _listing(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def test_append_only_client_cannot_destroy_anything(workload: Workload, tmp_path: Path) -> None:
    storage = AppendOnlyStorage(LocalStorage(workload.path))
    before = _listing(workload.path)
    victims = [next(n for n in before if n.startswith(prefix)) for prefix in ("data/", "index/", "snapshots/", "keys/")]
    for name in [*victims, "config"]:
        with pytest.raises(AppendOnlyError):
            storage.delete(name)
        with pytest.raises(AppendOnlyError):
            storage.write(name, b"ransom note")
        storage.write(name, before[name])  # re-uploading identical bytes is not a change
    with open_repo(workload.path, storage=AppendOnlyStorage(LocalStorage(workload.path))) as repo:
        policy = override_policy(None, keep_last=1, max_age=parse_max_age(["all=off"]))
        plan = plan_forget(repo, policy=policy)
        assert len(plan.forget) == 3
        with pytest.raises(AppendOnlyError, match="append-only"):
            plan.execute()
        with pytest.raises(AppendOnlyError):
            prune(repo)
        assert prune(repo, dry_run=True).result is None  # planning is harmless and allowed
        assert _listing(workload.path) == before
        # Backups still work.
        src = tmp_path / "new" / "site"
        write_files(src, random.Random(5), 4)
        result = backup_paths(repo, [str(src)])
    expected = {**workload.expected, result.snapshot.id: tree_contents(src)}
    assert all(_listing(workload.path)[n] == data for n, data in before.items() if not n.startswith("locks/"))
    assert_intact(workload.path, expected, tmp_path / "scratch")


def test_append_only_config_refuses_forget_prune_and_repair(tmp_path: Path) -> None:
    files = tmp_path / "site"
    write_files(files, random.Random(1), 3)
    cfg = tmp_path / "sitesnap.toml"
    cfg.write_text(f"""
[site]
name = "blog"

[[sources]]
name = "uploads"
type = "files"
path = "{files}"

[[repositories]]
name = "vault"
url = "{tmp_path / 'vault'}"
append_only = true
""")
    assert run("-c", str(cfg), "init", "--kdf", "scrypt").returncode == 0
    for _ in range(2):
        assert run("-c", str(cfg), "backup").returncode == 0
    before = _listing(tmp_path / "vault")
    for args in (["forget", "--keep-last", "1", "--max-age", "all=off"], ["prune"], ["repair", "index"],
                 ["repair", "snapshots", "--forget"]):
        res = run("-c", str(cfg), *args)
        assert res.returncode == 21, (args, res.stderr)
        assert "append-only" in res.stderr and "Traceback" not in res.stderr
    assert run("-c", str(cfg), "prune", "--dry-run").returncode == 0
    after = _listing(tmp_path / "vault")
    assert {n: d for n, d in after.items() if not n.startswith("locks/")} == before
    # The same repository without the append-only setting (separate credentials) may prune.
    res = run("-r", str(tmp_path / "vault"), "forget", "--keep-last", "1", "--max-age", "all=off", "--prune")
    assert res.returncode == 0, res.stderr
