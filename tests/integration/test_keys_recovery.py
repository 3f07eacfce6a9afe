"""Key backup: a printable recovery code opens the repository, and an exported key file restores access.

Runs the ``sitesnap`` command as a user would, on a repository made with a
fast key derivation (the recovery slot itself uses the default Argon2id).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sitesnap.repository.repository import Repository

CODE = re.compile(r"\b[0-9A-Z]{5}(?:-[0-9A-Z]{5}){7}\b")


def _backup(run_cli: Callable[..., Any], repo: Path, src: Path) -> None:
    src.mkdir()
    (src / "a.txt").write_text("hello recovery\n")
    (src / "b.bin").write_bytes(bytes(range(256)) * 100)
    res = run_cli("backup", str(src), repo=repo)
    assert res.code == 0, res.stderr


def test_recovery_code_opens_and_restores(make_repo: Callable[..., Repository], run_cli: Callable[..., Any],
                                          tmp_path: Path) -> None:
    repo_path = tmp_path / "repo"
    make_repo(repo_path).close()
    _backup(run_cli, repo_path, tmp_path / "src")

    res = run_cli("key", "recovery", repo=repo_path)
    assert res.code == 0, res.stderr
    codes = CODE.findall(res.stdout)
    assert len(set(codes)) == 1, res.stdout
    code = codes[0]
    assert "docs/keys.md" in res.stdout

    listed = run_cli("--json", "key", "list", repo=repo_path)
    labels = [k["label"] for k in json.loads(listed.stdout)]
    assert labels.count("recovery code") == 1 and len(labels) == 2

    # Typed back sloppily: lower case, spaces instead of dashes.
    sloppy = code.lower().replace("-", " ")
    res = run_cli("restore", "latest", "--target", str(tmp_path / "out"), repo=repo_path, password=sloppy)
    assert res.code == 0, res.stderr
    assert (tmp_path / "out" / "src" / "a.txt").read_text() == "hello recovery\n"
    assert (tmp_path / "out" / "src" / "b.bin").read_bytes() == bytes(range(256)) * 100


def test_recovery_code_typo_is_one_line_before_any_key_derivation(
        make_repo: Callable[..., Repository], run_cli: Callable[..., Any], tmp_path: Path) -> None:
    repo_path = tmp_path / "repo"
    make_repo(repo_path).close()
    res = run_cli("--json", "key", "recovery", repo=repo_path)
    code = json.loads(res.stdout)["recovery_code"]
    first = code[0]
    typo = ("X" if first != "X" else "Y") + code[1:]
    res = run_cli("snapshots", repo=repo_path, password=typo)
    assert res.code == 2
    assert "typo" in res.stderr and "Traceback" not in res.stderr
    assert res.stderr.count("\n") <= 2


def test_removed_recovery_slot_no_longer_opens(make_repo: Callable[..., Repository], run_cli: Callable[..., Any],
                                               tmp_path: Path) -> None:
    repo_path = tmp_path / "repo"
    make_repo(repo_path).close()
    res = run_cli("--json", "key", "recovery", repo=repo_path)
    made = json.loads(res.stdout)
    assert run_cli("snapshots", repo=repo_path, password=made["recovery_code"]).code == 0
    assert run_cli("key", "remove", made["id"][:8], repo=repo_path).code == 0
    res = run_cli("snapshots", repo=repo_path, password=made["recovery_code"])
    assert res.code == 12, res.stderr


def test_exported_key_file_restores_access_after_every_key_is_lost(
        make_repo: Callable[..., Repository], run_cli: Callable[..., Any], tmp_path: Path, password: str) -> None:
    repo_path = tmp_path / "repo"
    other_path = tmp_path / "other"
    make_repo(repo_path).close()
    make_repo(other_path).close()
    _backup(run_cli, repo_path, tmp_path / "src")
    exported = tmp_path / "repo.key"
    res = run_cli("key", "export", "--out", str(exported), repo=repo_path)
    assert res.code == 0, res.stderr
    assert exported.stat().st_mode & 0o777 == 0o600
    assert run_cli("key", "export", "--out", str(exported), repo=repo_path).code == 2

    for key_file in (repo_path / "keys").iterdir():
        key_file.unlink()
    assert run_cli("snapshots", repo=repo_path).code == 10

    # A key of another repository is refused; a wrong password is refused.
    other_key = tmp_path / "other.key"
    assert run_cli("key", "export", "--out", str(other_key), repo=other_path).code == 0
    res = run_cli("key", "import", str(other_key), repo=repo_path)
    assert res.code == 2 and "another repository" in res.stderr
    assert run_cli("key", "import", str(exported), repo=repo_path, password="nope").code == 12
    assert not any((repo_path / "keys").iterdir())

    res = run_cli("key", "import", str(exported), repo=repo_path)
    assert res.code == 0, res.stderr
    res = run_cli("restore", "latest", "--target", str(tmp_path / "out"), repo=repo_path)
    assert res.code == 0, res.stderr
    assert (tmp_path / "out" / "src" / "a.txt").read_text() == "hello recovery\n"
    assert run_cli("key", "import", str(exported), repo=repo_path).code == 0  # idempotent
    assert len(list((repo_path / "keys").iterdir())) == 1


def test_unreadable_new_password_file_is_one_line(make_repo: Callable[..., Repository], run_cli: Callable[..., Any],
                                                  tmp_path: Path) -> None:
    repo_path = tmp_path / "repo"
    make_repo(repo_path).close()
    for args in (("key", "add"), ("key", "passwd"), ("key", "rotate", "--yes")):
        res = run_cli(*args, "--new-password-file", str(tmp_path / "missing"), repo=repo_path)
        assert res.code == 2, (args, res.stderr)
        assert "cannot read password file" in res.stderr and "Traceback" not in res.stderr, args
