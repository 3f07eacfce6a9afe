"""Every global option applies with ``-c sitesnap.toml``, or is refused with a message: none is silently ignored."""

from __future__ import annotations

import json
import time
from pathlib import Path

from .site import PASSWORD, make_site, sitesnap

MIB = 1 << 20


def test_limit_upload_applies_to_a_site_backup(tmp_path: Path) -> None:
    make_site(tmp_path, upload_bytes=3 * MIB)
    started = time.monotonic()
    # Not --in-process: a limit given here keeps the backup here even when a scheduler could take it.
    res = sitesnap("-c", "sitesnap.toml", "--limit-upload", "1MiB/s", "backup", cwd=tmp_path)
    took = time.monotonic() - started
    assert res.returncode == 0, res.stderr
    assert took >= 1.8, f"3 MiB at 1 MiB/s (1 s burst) took only {took:.2f}s: the limit was ignored"


def test_limit_download_applies_to_a_site_command(tmp_path: Path) -> None:
    make_site(tmp_path, upload_bytes=3 * MIB)
    assert sitesnap("-c", "sitesnap.toml", "backup", "--in-process", cwd=tmp_path).returncode == 0
    started = time.monotonic()
    res = sitesnap("-c", "sitesnap.toml", "--limit-download", "1MiB/s", "check", "--read-data", cwd=tmp_path)
    took = time.monotonic() - started
    assert res.returncode == 0, res.stderr
    assert took >= 1.8, f"reading 3 MiB at 1 MiB/s took only {took:.2f}s: the limit was ignored"


def test_password_file_applies_to_a_repository_without_its_own(tmp_path: Path) -> None:
    make_site(tmp_path)
    (tmp_path / "pw").write_text(PASSWORD + "\n")
    res = sitesnap("-c", "sitesnap.toml", "--password-file", "pw", "snapshots", cwd=tmp_path, SITESNAP_PASSWORD="")
    assert res.returncode == 0, res.stderr
    (tmp_path / "pw").write_text("wrong\n")
    res = sitesnap("-c", "sitesnap.toml", "--password-file", "pw", "snapshots", cwd=tmp_path, SITESNAP_PASSWORD="")
    assert res.returncode != 0 and "Traceback" not in res.stderr


def test_password_file_is_refused_when_the_repository_has_its_own(tmp_path: Path) -> None:
    make_site(tmp_path, repo_password="own secret")
    (tmp_path / "pw").write_text("something else\n")
    res = sitesnap("-c", "sitesnap.toml", "--password-file", "pw", "snapshots", cwd=tmp_path)
    assert res.returncode == 2
    assert "--password-file does not apply" in res.stderr and "Traceback" not in res.stderr


def test_write_only_key_is_refused_for_a_site_backup(tmp_path: Path) -> None:
    make_site(tmp_path)
    (tmp_path / "host.key").write_text("not used\n")
    res = sitesnap("-c", "sitesnap.toml", "--write-only-key", "host.key", "backup", cwd=tmp_path)
    assert res.returncode == 2
    assert "--write-only-key" in res.stderr and "Traceback" not in res.stderr
    assert sitesnap("-c", "sitesnap.toml", "--json", "snapshots", cwd=tmp_path).stdout.strip() == "[]"


def test_json_quiet_and_repo_apply_with_config(tmp_path: Path) -> None:
    make_site(tmp_path)
    res = sitesnap("-c", "sitesnap.toml", "--json", "backup", "--in-process", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert any(json.loads(line).get("message_type") == "summary" for line in res.stdout.splitlines())
    quiet = sitesnap("-c", "sitesnap.toml", "-q", "snapshots", cwd=tmp_path)
    assert quiet.returncode == 0
    loud = sitesnap("-c", "sitesnap.toml", "snapshots", cwd=tmp_path)
    assert len(quiet.stdout) <= len(loud.stdout)
    named = sitesnap("-c", "sitesnap.toml", "-r", "main", "--json", "snapshots", cwd=tmp_path)
    assert len(json.loads(named.stdout)) == 1
    unknown = sitesnap("-c", "sitesnap.toml", "-r", "nowhere", "backup", cwd=tmp_path)
    assert unknown.returncode == 2 and "not a repository of site blog" in unknown.stderr
