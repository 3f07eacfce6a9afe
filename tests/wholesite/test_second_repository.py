"""``-r NAME`` with a site config uses that repository alone, and one password rule holds everywhere.

The operator's case: the primary is gone (its directory removed) and the
site comes back from the second copy.  Every command must open only the
repository named, with that repository's password: its own configured one
wins; ``SITESNAP_PASSWORD`` / ``--password-file`` apply to repositories
without one, for the CLI and for the automatic copy after a backup alike.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

from tests.wholesite.test_site_restore import SITESNAP, sqlite_count, write_site

PRIMARY_PASSWORD = "primary password"
SECOND_PASSWORD = "second password"


def _cli(cwd: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **env}
    for name in ("SITESNAP_PASSWORD_FILE", "SITESNAP_REPOSITORY", "SITESNAP_CONFIG"):
        full_env.pop(name, None)
    return subprocess.run([SITESNAP, "-c", "sitesnap.toml", *args], cwd=cwd, env=full_env, text=True,
                          capture_output=True, timeout=180)


def _site(root: Path, second_password: str) -> None:
    """The test site with a primary ``local`` (own password) and ``second`` (``second_password`` line)."""
    cfg = write_site(root)
    text = cfg.read_text().replace('password = { env = "SITE_TEST_PASSWORD" }',
                                   'password = { env = "PRIMARY_PASSWORD" }')
    text += f'\n[[repositories]]\nname = "second"\nurl = "second-copy"\n{second_password}\n'
    text += f'\n[runtime]\nstate_dir = "{root / "state"}"\n'
    cfg.write_text(text)


def _damage(root: Path) -> None:
    db = sqlite3.connect(root / "instance" / "blog.db")
    db.execute("DELETE FROM post WHERE id > 10")
    db.commit()
    db.close()
    (root / "uploads" / "notes.txt").write_text("changed after the backup\n")


def test_every_command_uses_the_named_repository_with_the_primary_gone(tmp_path: Path) -> None:
    _site(tmp_path, 'password = { env = "SECOND_PASSWORD" }')
    # A wrong SITESNAP_PASSWORD must not matter: both repositories have their own password.
    env = {"PRIMARY_PASSWORD": PRIMARY_PASSWORD, "SECOND_PASSWORD": SECOND_PASSWORD, "SITESNAP_PASSWORD": "wrong"}
    for args in (("init", "--kdf", "scrypt"), ("-r", "second", "init", "--kdf", "scrypt")):
        made = _cli(tmp_path, *args, env=env)
        assert made.returncode == 0, made.stderr
    backup = _cli(tmp_path, "backup", env=env)
    assert backup.returncode == 0, backup.stderr
    assert "copy to second: ok" in backup.stdout
    _damage(tmp_path)
    shutil.rmtree(tmp_path / "backups")  # the primary is gone

    listing = _cli(tmp_path, "-r", "second", "snapshots", "--json", env=env)
    assert listing.returncode == 0, listing.stderr
    (snap,) = json.loads(listing.stdout)
    for args in (("ls", "latest"), ("check",), ("restore", "latest", "--dry-run")):
        res = _cli(tmp_path, "-r", "second", *args, env=env)
        assert res.returncode == 0, (args, res.stderr)
    restored = _cli(tmp_path, "-r", "second", "restore", "latest", "--yes", "--no-safety-snapshot", env=env)
    assert restored.returncode == 0, restored.stderr
    assert sqlite_count(tmp_path / "instance" / "blog.db") == 300
    assert (tmp_path / "uploads" / "notes.txt").read_text() == "hello\n"
    drill = _cli(tmp_path, "drill", "--repository", "second", "--json", env=env)
    assert drill.returncode == 0, drill.stderr
    assert json.loads(drill.stdout.strip().splitlines()[-1])["result"]["snapshot_id"] == snap["id"]
    # Without -r, the primary is what is meant: its absence is reported, not papered over.
    gone = _cli(tmp_path, "snapshots", env=env)
    assert gone.returncode == 10, gone.stderr


def test_a_repository_without_its_own_password_takes_sitesnap_password_everywhere(tmp_path: Path) -> None:
    _site(tmp_path, "")
    env = {"PRIMARY_PASSWORD": PRIMARY_PASSWORD, "SITESNAP_PASSWORD": SECOND_PASSWORD}
    assert _cli(tmp_path, "init", "--kdf", "scrypt", env=env).returncode == 0
    unknown = _cli(tmp_path, "init", "--repository", "third", env=env)
    assert unknown.returncode == 2 and "third" in unknown.stderr and "local, second" in unknown.stderr
    made = _cli(tmp_path, "init", "--repository", "second", "--kdf", "scrypt", env=env)
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "second-copy" / "config").exists()
    # The primary opens with its own password although SITESNAP_PASSWORD is set; the automatic copy
    # opens "second" with SITESNAP_PASSWORD, as the CLI does.
    backup = _cli(tmp_path, "backup", env=env)
    assert backup.returncode == 0, backup.stderr
    assert "copy to second: ok" in backup.stdout
    listing = _cli(tmp_path, "-r", "second", "snapshots", "--json", env=env)
    assert listing.returncode == 0, listing.stderr
    assert len(json.loads(listing.stdout)) == 1
    # With the wrong SITESNAP_PASSWORD, the copy fails, and the backup says so with its own exit code.
    failed = _cli(tmp_path, "backup", env={**env, "SITESNAP_PASSWORD": "wrong"})
    assert failed.returncode == 30, failed.stderr
    assert "Copy failed" in failed.stderr and "second" in failed.stderr
