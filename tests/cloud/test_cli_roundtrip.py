"""init, backup, snapshots, restore and check --read-data through the command line, with the
repository on the real local S3 server and on OpenSSH's sshd; restored trees equal their source."""

from __future__ import annotations

import json
from pathlib import Path

from tests.storage.servers import S3Server, SSHServer

from .conftest import (
    make_tree,
    mutate_tree,
    run_cli,
    s3_repository_toml,
    sftp_repository_toml,
    sftp_url,
    site_toml,
    tree_state,
)

SOURCES = ""  # path backups: the repository is all the site configuration these tests need


def _round_trip(base: Path, cli_args: list[str], env: dict[str, str] | None = None) -> None:
    """Two backups of an evolving tree; every snapshot restores exactly; check --read-data passes."""
    src = make_tree(base / "src", seed=11)
    expected: dict[str, dict[str, tuple[object, ...]]] = {}
    for n in range(2):
        if n:
            mutate_tree(src, seed=n)
        res = run_cli(*cli_args, "backup", "--json", str(src), env=env)
        assert res.code == 0, res.stderr
        summary = json.loads(res.stdout.splitlines()[-1])
        expected[summary["snapshot_id"]] = tree_state(src)
    listing = run_cli(*cli_args, "snapshots", "--json", env=env)
    assert listing.code == 0, listing.stderr
    snaps = json.loads(listing.stdout)
    assert [s["id"] for s in snaps] == list(expected)
    assert snaps[1]["parent"] == snaps[0]["id"]
    for sid, state in expected.items():
        out = base / f"out-{sid[:8]}"
        res = run_cli(*cli_args, "restore", sid, "--target", str(out), env=env)
        assert res.code == 0, res.stderr
        assert tree_state(out / "src") == state, f"snapshot {sid[:8]} restored differently"
    check = run_cli(*cli_args, "check", "--read-data", "--json", env=env)
    assert check.code == 0, check.stdout + check.stderr
    report = json.loads(check.stdout.splitlines()[-1])
    assert report["ok"] and report["snapshots"] == 2 and report["packs_read"] == report["packs"] > 0


def test_s3_repository_from_site_config(tmp_path: Path, s3_server: S3Server, bucket: str) -> None:
    url = f"s3://{bucket}/sites/blog"
    cfg = site_toml(tmp_path / "sitesnap.toml", SOURCES,
                    [s3_repository_toml("cloud", url, s3_server.endpoint)], tmp_path / "state")
    made = run_cli("-c", str(cfg), "init", "--kdf", "scrypt")
    assert made.code == 0, made.stderr
    assert url in made.stdout
    _round_trip(tmp_path, ["-c", str(cfg)])
    # Everything is in the bucket, under the prefix.
    keys = [o["Key"] for o in s3_server.client().list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys and all(k.startswith("sites/blog/") for k in keys)
    assert {k.split("/")[2] for k in keys} >= {"config", "keys", "data", "index", "snapshots"}
    # A second init at the same place is refused, and the data is untouched.
    again = run_cli("-c", str(cfg), "init", "--kdf", "scrypt")
    assert again.code == 11, again.stderr
    assert run_cli("-c", str(cfg), "check").code == 0


def test_s3_wrong_password_fails_cleanly(tmp_path: Path, s3_server: S3Server, bucket: str) -> None:
    cfg = site_toml(tmp_path / "sitesnap.toml", SOURCES,
                    [s3_repository_toml("cloud", f"s3://{bucket}/p", s3_server.endpoint)], tmp_path / "state")
    assert run_cli("-c", str(cfg), "init", "--kdf", "scrypt").code == 0
    wrong = run_cli("-c", str(cfg), "snapshots", env={"SITESNAP_PASSWORD": "not it"})
    assert wrong.code == 12 and "Traceback" not in wrong.stderr
    other = run_cli("-c", str(cfg), "snapshots", env={"CLOUD_TEST_KEY_ID": "someone-else"})
    assert other.code == 0, other.stderr  # moto accepts any key; a real service answers 403 (exit 15)


def test_s3_empty_access_key_is_a_config_error(tmp_path: Path, s3_server: S3Server, bucket: str) -> None:
    cfg = site_toml(tmp_path / "sitesnap.toml", SOURCES,
                    [s3_repository_toml("cloud", f"s3://{bucket}/p", s3_server.endpoint)], tmp_path / "state")
    missing = run_cli("-c", str(cfg), "init", "--kdf", "scrypt", env={"CLOUD_TEST_KEY_ID": ""})
    assert missing.code == 2 and "Traceback" not in missing.stderr, missing.stderr


def test_s3_repository_from_aws_environment(tmp_path: Path, s3_server: S3Server, bucket: str) -> None:
    env = {"AWS_ENDPOINT_URL": s3_server.endpoint, "AWS_ACCESS_KEY_ID": s3_server.access_key,
           "AWS_SECRET_ACCESS_KEY": s3_server.secret_key, "AWS_REGION": s3_server.region}
    repo = ["-r", f"s3://{bucket}/from-env"]
    made = run_cli(*repo, "init", "--kdf", "scrypt", env=env)
    assert made.code == 0, made.stderr
    _round_trip(tmp_path, repo, env)


def test_sftp_repository_by_url_and_by_site_config(
    tmp_path: Path, ssh_server: SSHServer, sftp_dir: Path, ssh_home: Path
) -> None:
    url = sftp_url(ssh_server, sftp_dir / "repo")
    cfg = site_toml(tmp_path / "sitesnap.toml", SOURCES,
                    [sftp_repository_toml("offsite", url, ssh_server)], tmp_path / "state")
    # Created through the site config (key_file and known_hosts options) ...
    made = run_cli("-c", str(cfg), "init", "--kdf", "scrypt")
    assert made.code == 0, made.stderr
    assert (sftp_dir / "repo" / "config").is_file()
    # ... and used with -r alone, as a user whose ~/.ssh holds the key and the host key.
    _round_trip(tmp_path, ["-r", url], {"HOME": str(ssh_home)})
    assert run_cli("-c", str(cfg), "check", "--read-data").code == 0
    assert any((sftp_dir / "repo" / "data").rglob("*"))


def test_sftp_unknown_host_key_is_refused(tmp_path: Path, ssh_server: SSHServer, sftp_dir: Path) -> None:
    home = tmp_path / "stranger"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "known_hosts").write_text("")
    res = run_cli("-r", sftp_url(ssh_server, sftp_dir / "repo"), "init", "--kdf", "scrypt",
                  env={"HOME": str(home)})
    assert res.code == 15 and "host key" in res.stderr and "Traceback" not in res.stderr
    assert not (sftp_dir / "repo").exists()
