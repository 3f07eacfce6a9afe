"""Copies that catch up, and copies that check what they wrote.

A site with a primary and a second repository copied after every backup.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from tests.cloud.conftest import PASSWORD, make_tree, mutate_tree, run_cli, site_toml


def _site(tmp_path: Path) -> tuple[Path, Path, Path]:
    src = make_tree(tmp_path / "uploads", 9, size=1 << 20)
    sources = f'[[sources]]\nname = "uploads"\ntype = "files"\npath = "{src}"\n'
    main = f'[[repositories]]\nname = "main"\nurl = "{tmp_path / "main"}"\n'
    second = f'[[repositories]]\nname = "second"\nurl = "{tmp_path / "second"}"\n'
    cfg = site_toml(tmp_path / "sitesnap.toml", sources, [main, second], tmp_path / "state")
    made = run_cli("-c", str(cfg), "init", "--kdf", "scrypt")
    assert made.code == 0, made.stderr
    return cfg, src, tmp_path / "second"


def _init_second(cfg: Path, second: Path) -> None:
    made = run_cli("-c", str(cfg), "-r", str(second), "init", "--kdf", "scrypt", "--copy-chunker-params-from", "main")
    assert made.code == 0, made.stderr


def _snapshots(cfg: Path, repo: str) -> list[dict[str, Any]]:
    res = run_cli("-c", str(cfg), "-r", repo, "snapshots", "--json")
    assert res.code == 0, res.stderr
    return list(json.loads(res.stdout))


def test_a_later_copy_brings_over_every_snapshot_the_copy_lacks(tmp_path: Path) -> None:
    cfg, src, second = _site(tmp_path)
    if (second / "config").exists():  # init made every repository: take the second away again
        shutil.rmtree(second)
    first = run_cli("-c", str(cfg), "backup")
    assert first.code == 30, (first.code, first.stdout, first.stderr)  # saved, but its copy failed
    _init_second(cfg, second)
    mutate_tree(src, 9)
    again = run_cli("-c", str(cfg), "backup")
    assert again.code == 0, again.stderr
    assert "copy to second: ok" in again.stdout
    originals = {s["id"] for s in _snapshots(cfg, str(tmp_path / "main"))}
    copies = _snapshots(cfg, str(second))
    assert len(originals) == 2 and {c["original"] for c in copies} == originals
    check = run_cli("-c", str(cfg), "-r", str(second), "check", "--read-data")
    assert check.code == 0, check.stdout + check.stderr


def test_a_copy_onto_a_damaged_repository_does_not_report_ok(tmp_path: Path) -> None:
    cfg, src, second = _site(tmp_path)
    if not (second / "config").exists():
        _init_second(cfg, second)
    assert run_cli("-c", str(cfg), "backup").code == 0
    packs = sorted(p for p in (second / "data").rglob("*") if p.is_file())
    assert packs
    for pack in packs:  # the destination loses its data; its index still lists it
        pack.unlink()
    (src / "one-more.txt").write_text("a new post\n")
    res = run_cli("-c", str(cfg), "backup")
    assert res.code == 30, (res.code, res.stdout, res.stderr)
    assert "copy to second: ok" not in res.stdout
    assert "missing from the destination" in res.stdout + res.stderr


def test_scheduled_check_and_prune_cover_every_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sitesnap.catalog import open_catalog
    from sitesnap.config import load_config
    from sitesnap.runtime.scheduler import SiteScheduler

    cfg_path, _, second = _site(tmp_path)
    if not (second / "config").exists():
        _init_second(cfg_path, second)
    assert run_cli("-c", str(cfg_path), "backup").code == 0
    monkeypatch.setenv("SITESNAP_PASSWORD", PASSWORD)
    cfg = load_config(cfg_path)
    catalog = open_catalog(cfg.runtime.catalog_url)
    try:
        scheduler = SiteScheduler(cfg, catalog)
        for job in ("check", "prune"):
            scheduler.fire(job)
        runs = catalog.list_runs(site="blog", per_page=50).items
    finally:
        catalog.close()
    done = {(r.kind, r.repository): r.status for r in runs if r.kind in ("check", "forget")}
    assert done == {("check", "main"): "completed", ("check", "second"): "completed",
                    ("forget", "main"): "completed", ("forget", "second"): "completed"}
