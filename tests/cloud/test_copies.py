"""3-2-1 with real servers: a site backed up to a local primary and copied to S3 (moto) and
SFTP (sshd), each copy restored exactly; append-only clients and Object Lock on S3 keep
existing snapshots from being destroyed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.storage.servers import S3Server, SSHServer

from sitesnap.engine.backup import backup_paths
from sitesnap.errors import AppendOnlyError
from sitesnap.repository.check import check_repository
from sitesnap.repository.repository import Repository
from sitesnap.storage.registry import open_storage

from .conftest import (
    PASSWORD,
    make_tree,
    mutate_tree,
    opened,
    restore_snapshot,
    run_cli,
    s3_repository_toml,
    sftp_repository_toml,
    sftp_url,
    site_toml,
    tree_state,
)

State = dict[str, tuple[Any, ...]]


def _last_json(text: str) -> Any:
    return json.loads(text.strip().splitlines()[-1])


def _snapshots(args: list[str], env: dict[str, str] | None = None) -> list[dict[str, Any]]:
    res = run_cli(*args, "snapshots", "--json", env=env)
    assert res.code == 0, res.stderr
    return list(json.loads(res.stdout))


def test_backup_copy_to_s3_and_sftp_restore_from_each(
    tmp_path: Path, s3_server: S3Server, bucket: str, ssh_server: SSHServer, sftp_dir: Path, ssh_home: Path
) -> None:
    src = make_tree(tmp_path / "site" / "uploads", 21)
    sources = f'[[sources]]\nname = "uploads"\ntype = "files"\npath = "{src}"\n'
    s3_url = f"s3://{bucket}/blog"
    ssh_url = sftp_url(ssh_server, sftp_dir / "blog")
    cloud = s3_repository_toml("cloud", s3_url, s3_server.endpoint)  # copied after every backup
    offsite = sftp_repository_toml("offsite", ssh_url, ssh_server, copy_after_backup="false")
    main = f'[[repositories]]\nname = "main"\nurl = "{tmp_path / "main"}"\n'
    cfg = site_toml(tmp_path / "sitesnap.toml", sources, [main, cloud, offsite], tmp_path / "state")
    cloud_only = site_toml(tmp_path / "cloud.toml", sources, [cloud], tmp_path / "state-cloud")
    home = {"HOME": str(ssh_home)}
    sftp_cli = ["-r", ssh_url]

    assert run_cli("-c", str(cfg), "init", "--kdf", "scrypt").code == 0
    # S3 with its own keys (blobs re-hashed on copy); SFTP sharing the primary's blob IDs.
    made = run_cli("-c", str(cloud_only), "init", "--kdf", "scrypt")
    assert made.code == 0, made.stderr
    made = run_cli("-c", str(cfg), *sftp_cli, "init", "--kdf", "scrypt", "--copy-chunker-params-from", "main",
                   env=home)
    assert made.code == 0, made.stderr

    states: dict[str, State] = {}
    sent_to_offsite: list[int] = []
    for n in range(2):
        if n:
            mutate_tree(src, 21)
        res = run_cli("-c", str(cfg), "backup")
        assert res.code == 0, res.stderr
        assert "copy to cloud: ok" in res.stdout and "offsite" not in res.stdout + res.stderr
        copy = run_cli("-c", str(cfg), "copy", "--to", "offsite", "--json")
        assert copy.code == 0, copy.stderr
        summary = _last_json(copy.stdout)
        assert len(summary["copied"]) == 1 and not summary["translated"]
        sent_to_offsite.append(summary["bytes_sent"])
        (sid,) = summary["copied"]
        states[sid] = tree_state(src)
    # Only what changed moved the second time.
    assert 0 < sent_to_offsite[1] < sent_to_offsite[0] / 2

    primary = _snapshots(["-c", str(cfg)])
    assert [s["id"] for s in primary] == list(states)
    for snap in primary:
        assert snap["copies"]["cloud"]["status"] == "ok" and snap["copies"]["offsite"]["status"] == "ok"

    # Restore every snapshot from each copy; each equals the tree at its backup.
    # (the primary's listing names each copy: `snapshots --json` of a copy does not show its original)
    for name, args, env in (("cloud", ["-c", str(cloud_only)], None), ("offsite", sftp_cli, home)):
        copies = {s["id"]: s["copies"][name]["copied_snapshot"] for s in primary}
        assert sorted(s["id"] for s in _snapshots(args, env)) == sorted(copies.values()), name
        for original, state in states.items():
            out = tmp_path / f"{name}-{original[:8]}"
            res = run_cli(*args, "restore", copies[original], "--target", str(out), env=env)
            assert res.code == 0, res.stderr
            assert tree_state(out / "files" / "uploads") == state, f"{name}: copy of {original[:8]} differs"
        check = run_cli(*args, "check", "--read-data", env=env)
        assert check.code == 0, check.stdout + check.stderr
    # Copying again moves nothing.
    again = run_cli("-c", str(cfg), "copy", "--to", "offsite", "--json")
    assert again.code == 0 and _last_json(again.stdout)["copied"] == {}


def _object_etags(server: S3Server, bucket: str) -> dict[str, str]:
    listing = server.client().list_objects_v2(Bucket=bucket)
    return {o["Key"]: o["ETag"] for o in listing.get("Contents", []) if "/locks/" not in o["Key"]}


def test_append_only_client_cannot_destroy_snapshots_on_s3(tmp_path: Path, s3_server: S3Server, bucket: str) -> None:
    url = f"s3://{bucket}/ao"
    admin = site_toml(tmp_path / "admin.toml", "", [s3_repository_toml("cloud", url, s3_server.endpoint)],
                      tmp_path / "state")
    client = site_toml(tmp_path / "client.toml", "",
                       [s3_repository_toml("cloud", url, s3_server.endpoint, append_only="true")], tmp_path / "state")
    src = make_tree(tmp_path / "src", 31, size=1 << 20)
    assert run_cli("-c", str(admin), "init", "--kdf", "scrypt").code == 0
    states: dict[str, State] = {}
    for n in range(2):  # the append-only client can still back up
        if n:
            mutate_tree(src, 31)
        res = run_cli("-c", str(client), "backup", "--json", str(src))
        assert res.code == 0, res.stderr
        states[_last_json(res.stdout)["snapshot_id"]] = tree_state(src)
    before = _object_etags(s3_server, bucket)
    first = next(iter(states))

    for args in (["forget", first], ["forget", "--keep-last", "1", "--prune"], ["prune"]):
        res = run_cli("-c", str(client), *args)
        assert res.code == 21, (args, res.stdout, res.stderr)
        assert "append-only" in res.stderr and "Traceback" not in res.stderr

    # Below the commands, the storage itself refuses deletes and overwrites.
    with opened(open_storage(url, s3_server.options(append_only=True))) as repo:
        storage = repo.storage
        victims = [f"snapshots/{first}", *sorted(i.name for i in storage.list("data/"))[:3],
                   *sorted(i.name for i in storage.list("index/"))[:1]]
        for name in victims:
            with pytest.raises(AppendOnlyError):
                storage.delete(name)
            with pytest.raises(AppendOnlyError):
                storage.write(name, b"garbage")
        storage.write(victims[0], storage.read(victims[0]))  # a retried identical upload is fine
    assert _object_etags(s3_server, bucket) == before

    # With the administrator's credentials everything is intact and restores.
    with opened(open_storage(url, s3_server.options())) as repo:
        assert check_repository(repo, read_data=True).ok
        assert sorted(repo.snapshot_ids()) == sorted(states)
        for sid, state in states.items():
            assert tree_state(restore_snapshot(repo, sid, tmp_path / "out") / "src") == state
    # ... and only they may forget.
    res = run_cli("-c", str(admin), "forget", first)
    assert res.code == 0, res.stderr


def test_object_lock_keeps_every_repository_object(tmp_path: Path, s3_server: S3Server) -> None:
    """Every object a backup writes (except locks) carries governance retention; deleting a
    locked version is refused by the server itself, so the repository survives stolen keys."""
    locked = f"locked-{tmp_path.name[-8:].lower().replace('_', '-')}"
    url = f"s3://{locked}/repo"
    options = s3_server.options(create_bucket=True, object_lock_mode="governance", object_lock_days=1)
    src = make_tree(tmp_path / "src", 41, size=1 << 20)
    with opened(open_storage(url, options), init=True) as repo:
        sid = backup_paths(repo, [str(src)]).snapshot.id
    s3 = s3_server.client()
    versions = s3.list_object_versions(Bucket=locked, Prefix="repo/")["Versions"]
    assert {"config", "keys", "data", "index", "snapshots"} <= {v["Key"].split("/")[1] for v in versions}
    for v in versions:
        head = s3.head_object(Bucket=locked, Key=v["Key"], VersionId=v["VersionId"])
        locks = v["Key"].startswith("repo/locks/")  # locks must stay deletable
        assert head.get("ObjectLockMode") == (None if locks else "GOVERNANCE"), v["Key"]
    snap = next(v for v in versions if v["Key"] == f"repo/snapshots/{sid}")
    with pytest.raises(s3.exceptions.ClientError, match="AccessDenied"):
        s3.delete_object(Bucket=locked, Key=snap["Key"], VersionId=snap["VersionId"])
    with Repository.open(open_storage(url, s3_server.options()), PASSWORD) as repo:
        assert check_repository(repo, read_data=True).ok
        assert tree_state(restore_snapshot(repo, sid, tmp_path / "out") / "src") == tree_state(src)
