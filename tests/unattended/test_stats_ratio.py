"""``stats`` reports deduplication as restored bytes per stored content byte."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any


def test_three_identical_snapshots_are_three_times_deduplicated(
    tmp_path: Path, run_cli: Callable[..., Any]
) -> None:
    tree = tmp_path / "site"
    tree.mkdir()
    for i in range(4):
        (tree / f"f{i}.bin").write_bytes(os.urandom(300_000))
    repo = tmp_path / "repo"
    assert run_cli("init", repo=repo).code == 0
    for _ in range(3):
        assert run_cli("backup", str(tree), repo=repo).code == 0
    result = run_cli("--json", "stats", repo=repo)
    assert result.code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["snapshots"] == 3
    assert data["files"] == 12
    assert data["restore_size"] == 3 * 4 * 300_000
    assert data["unique_data_size"] == 4 * 300_000
    assert data["dedup_ratio"] == 3.0
    human = run_cli("stats", repo=repo)
    assert "Deduplication:      3.0x" in human.stdout
