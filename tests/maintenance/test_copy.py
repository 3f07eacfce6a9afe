"""copy: same-ID and translated copies restore exactly; only missing data moves; copy after a site backup."""

from __future__ import annotations

import json
from pathlib import Path

from sitesnap.engine.backup import backup_paths
from sitesnap.engine.copy import copy_snapshots, init_with_params_of, load_copy_status
from sitesnap.format.crypto import FAST_TEST_KDF
from sitesnap.repository.check import check_repository

from .conftest import PASSWORD, Workload, init_repo, open_repo, restore_contents, tree_contents, write_files
from .test_forget_cli import run

OTHER_PASSWORD = "a different password"


def _assert_copies(path: Path, password: str, expected: dict[str, dict[str, bytes]], scratch: Path) -> None:
    from sitesnap.repository.repository import Repository
    from sitesnap.storage.local import LocalStorage

    with Repository.open(LocalStorage(path), password) as repo:
        assert check_repository(repo, read_data=True).ok
        repo.load_index()
        copies = {s.original: s for s in repo.load_snapshots()}
        assert sorted(copies) == sorted(expected)
        for original, contents in expected.items():
            assert restore_contents(repo, copies[original].id, scratch) == contents


def test_same_ids_moves_only_missing_blobs(workload: Workload, tmp_path: Path) -> None:
    with open_repo(workload.path) as src:
        dst = init_with_params_of(src, str(tmp_path / "b"), OTHER_PASSWORD, kdf=FAST_TEST_KDF)
        with dst:
            assert dst.master.id_key == src.master.id_key and dst.master.enc_key != src.master.enc_key
            first = copy_snapshots(src, dst, [workload.order[0]])
            rest = copy_snapshots(src, dst)
            again = copy_snapshots(src, dst)
    assert not first.translated and list(first.copied) == [workload.order[0]]
    assert sorted(rest.copied) == sorted(workload.order[1:]) and workload.order[0] in rest.skipped
    assert not again.copied and again.blobs_copied == 0
    # Later snapshots share most data with the first: far fewer blobs move for them than for a full copy.
    assert 0 < rest.blobs_copied < 3 * first.blobs_copied
    _assert_copies(tmp_path / "b", OTHER_PASSWORD, workload.expected, tmp_path / "scratch")


def test_translated_copy_between_independent_keys(workload: Workload, tmp_path: Path) -> None:
    with open_repo(workload.path) as src, init_repo(tmp_path / "b") as dst:
        result = copy_snapshots(src, dst)
        assert result.translated and sorted(result.copied) == sorted(workload.order)
        # A copy of a copy keeps the first original: copying back adds nothing.
        assert not copy_snapshots(dst, src).copied
    _assert_copies(tmp_path / "b", PASSWORD, workload.expected, tmp_path / "scratch")


def _site(tmp_path: Path, extra: str) -> Path:
    files = tmp_path / "site" / "uploads"
    write_files(files, __import__("random").Random(3), 6)
    cfg = tmp_path / "sitesnap.toml"
    cfg.write_text(f"""
[site]
name = "blog"

[[sources]]
name = "uploads"
type = "files"
path = "{files}"

[[repositories]]
name = "main"
url = "{tmp_path / 'main'}"
{extra}
[runtime]
state_dir = "{tmp_path / 'state'}"
""")
    return cfg


def test_copy_after_site_backup_records_results(tmp_path: Path) -> None:
    cfg = _site(tmp_path, f"""
[[repositories]]
name = "offsite"
url = "{tmp_path / 'offsite'}"

[[repositories]]
name = "broken"
url = "{tmp_path / 'never-initialised'}"

[[repositories]]
name = "manual"
url = "{tmp_path / 'manual'}"
copy_after_backup = false
""")
    assert run("-c", str(cfg), "init", "--kdf", "scrypt").returncode == 0
    made = run("-c", str(cfg), "-r", str(tmp_path / "offsite"), "init", "--kdf", "scrypt",
               "--copy-chunker-params-from", "main")
    assert made.returncode == 0, made.stderr
    res = run("-c", str(cfg), "backup")
    # The snapshot is saved and copied to offsite, but the failed copy to broken is an error (CopyFailed).
    assert res.returncode == 30, res.stderr
    output = res.stdout + res.stderr
    assert "copy to offsite: ok" in output
    assert "copy to broken" in output and "No repository" in output
    assert "error: Copy failed" in res.stderr and "broken" in res.stderr.splitlines()[-2]
    status = load_copy_status(tmp_path / "state")
    (sid, per_repo), = status.items()
    assert per_repo["offsite"]["status"] == "ok" and per_repo["offsite"]["bytes_sent"] > 0
    assert per_repo["broken"]["status"] == "error" and "manual" not in per_repo
    listing = run("-c", str(cfg), "snapshots", "--json")
    assert listing.returncode == 0, listing.stderr
    (snap,) = json.loads(listing.stdout)
    assert snap["id"] == sid and snap["copies"]["broken"]["status"] == "error"
    table = run("-c", str(cfg), "snapshots", env_extra={"COLUMNS": "250"})
    assert "offsite: ok" in table.stdout and "broken: error" in table.stdout
    # The copy restores the site exactly, from the off-site repository.
    with open_repo(tmp_path / "offsite") as off:
        off.load_index()
        (copy,) = off.load_snapshots()
        assert copy.original == sid and copy.site == "blog"
        from sitesnap.engine.restorer import Restorer
        from sitesnap.progress import Tracker

        Restorer(off, Tracker("t")).restore_tree(copy.tree, str(tmp_path / "out"))
    assert tree_contents(tmp_path / "out" / "files" / "uploads") == tree_contents(tmp_path / "site" / "uploads")


def test_copy_command_by_name_and_url(tmp_path: Path) -> None:
    cfg = _site(tmp_path, f"""
[[repositories]]
name = "second"
url = "{tmp_path / 'second'}"
copy_after_backup = false
""")
    assert run("-c", str(cfg), "init", "--kdf", "scrypt").returncode == 0
    assert run("-c", str(cfg), "-r", str(tmp_path / "second"), "init", "--kdf", "scrypt").returncode == 0
    assert run("-c", str(cfg), "backup").returncode == 0
    res = run("-c", str(cfg), "copy", "--from", "main", "--to", "second", "--json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout.splitlines()[-1])
    assert doc["translated"] and len(doc["copied"]) == 1
    again = run("copy", "--from", str(tmp_path / "main"), "--to", str(tmp_path / "second"))
    assert again.returncode == 0 and "0 snapshot(s) copied, 1 already present" in again.stdout
    bad = run("-c", str(cfg), "copy", "--to", "nowhere")
    assert bad.returncode == 2 and "neither a configured repository" in bad.stderr


def test_backup_then_incremental_copy(workload: Workload, tmp_path: Path) -> None:
    with open_repo(workload.path) as src:
        dst = init_with_params_of(src, str(tmp_path / "b"), OTHER_PASSWORD, kdf=FAST_TEST_KDF)
        with dst:
            copy_snapshots(src, dst)
            extra = tmp_path / "more" / "site"
            write_files(extra, __import__("random").Random(9), 2)
            new = backup_paths(src, [str(extra)])
            res = copy_snapshots(src, dst)
    assert list(res.copied) == [new.snapshot.id] and 1 <= res.blobs_copied <= 6
