"""The documented re-encryption path (docs/keys.md, "Changing the master key"): init a new repository,
copy everything into it, check it, restore from it -- with nothing shared with the old master key.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sitesnap.repository.repository import Repository
from sitesnap.storage.local import LocalStorage

NEW_PASSWORD = "a completely new passphrase"


def test_copy_into_a_new_repository_replaces_every_key(
        make_repo: Callable[..., Repository], run_cli: Callable[..., Any], tmp_path: Path, password: str,
        tree_state: Callable[[Path], dict[str, Any]]) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    make_repo(old).close()
    src = tmp_path / "site"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("first\n" * 5000)
    (src / "sub" / "b.bin").write_bytes(bytes(range(256)) * 4000)
    assert run_cli("backup", str(src), repo=old).code == 0
    # A snapshot made by a write-only host is carried over too.
    key = tmp_path / "host.key"
    assert run_cli("key", "write-only", "export", "--out", str(key), repo=old).code == 0
    (src / "a.txt").write_text("second\n" * 5000)
    res = run_cli("--write-only-key", str(key), "backup", str(src), repo=old, password=None)
    assert res.code == 0, res.stderr

    res = run_cli("init", "--kdf", "scrypt", repo=new, password=NEW_PASSWORD)
    assert res.code == 0, res.stderr
    res = run_cli("copy", "--to", str(new), repo=old, env={"SITESNAP_TO_PASSWORD": NEW_PASSWORD})
    assert res.code == 0, res.stderr
    res = run_cli("check", "--read-data", repo=new, password=NEW_PASSWORD)
    assert res.code == 0, res.stdout + res.stderr

    old_repo = Repository.open(LocalStorage(old), password)
    new_repo = Repository.open(LocalStorage(new), NEW_PASSWORD)
    try:
        assert new_repo.master.enc_key != old_repo.master.enc_key
        assert new_repo.master.id_key != old_repo.master.id_key
        assert new_repo.config.chunker.seed != old_repo.config.chunker.seed
        assert len(new_repo.load_snapshots()) == 2
    finally:
        old_repo.close()
        new_repo.close()
    # The old password opens nothing in the new repository.
    assert run_cli("snapshots", repo=new, password=password).code == 12
    listed = json.loads(run_cli("--json", "snapshots", repo=new, password=NEW_PASSWORD).stdout)
    first = min(listed, key=lambda s: s["time"])
    out = tmp_path / "out"
    res = run_cli("restore", first["id"], "--target", str(out), repo=new, password=NEW_PASSWORD)
    assert res.code == 0, res.stderr
    assert (out / "site" / "a.txt").read_text() == "first\n" * 5000
    out2 = tmp_path / "out2"
    res = run_cli("restore", "latest", "--target", str(out2), repo=new, password=NEW_PASSWORD)
    assert res.code == 0, res.stderr
    assert tree_state(out2 / "site") == tree_state(src)
