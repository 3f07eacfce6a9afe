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


def test_a_killed_copy_is_completed_later_and_its_leftovers_pruned(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import time

    from tests.cloud.conftest import SITESNAP

    src = make_tree(tmp_path / "uploads", 11, size=3 << 20)
    sources = f'[[sources]]\nname = "uploads"\ntype = "files"\npath = "{src}"\n'
    main = f'[[repositories]]\nname = "main"\nurl = "{tmp_path / "main"}"\n'
    # Slow uploads to the copy so it can be killed midway; no automatic copy.
    second = (f'[[repositories]]\nname = "second"\nurl = "{tmp_path / "second"}"\n'
              'copy_after_backup = false\nlimit_upload = "1MiB/s"\n')
    cfg = site_toml(tmp_path / "sitesnap.toml", sources, [main, second], tmp_path / "state")
    assert run_cli("-c", str(cfg), "init", "--kdf", "scrypt").code == 0
    if not (tmp_path / "second" / "config").exists():
        _init_second(cfg, tmp_path / "second")
    assert run_cli("-c", str(cfg), "backup").code == 0

    env = {k: v for k, v in os.environ.items() if not k.startswith("SITESNAP_")}
    env["SITESNAP_PASSWORD"] = PASSWORD
    copy = subprocess.Popen([SITESNAP, "-c", str(cfg), "copy", "--to", "second"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    data = tmp_path / "second" / "data"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(p.is_file() for p in data.rglob("*")):
        time.sleep(0.05)
    os.kill(copy.pid, signal.SIGKILL)
    copy.wait()
    assert any(p.is_file() for p in data.rglob("*")), "the copy wrote nothing before it was killed"
    assert _snapshots(cfg, str(tmp_path / "second")) == []  # killed before its snapshot

    again = run_cli("-c", str(cfg), "backup")  # a new snapshot; the copy is still missing the first
    assert again.code == 0, again.stderr
    caught_up = run_cli("-c", str(cfg), "copy", "--to", "second")
    assert caught_up.code == 0, caught_up.stderr
    originals = {s["id"] for s in _snapshots(cfg, str(tmp_path / "main"))}
    assert {c["original"] for c in _snapshots(cfg, str(tmp_path / "second"))} == originals
    pruned = run_cli("-c", str(cfg), "-r", str(tmp_path / "second"), "prune")
    assert pruned.code == 0, pruned.stderr
    check = run_cli("-c", str(cfg), "-r", str(tmp_path / "second"), "check", "--read-data")
    assert check.code == 0, check.stdout + check.stderr
