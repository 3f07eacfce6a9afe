"""Backups against the real local S3 server while things go wrong.

Connections dropped at random points (a misbehaving TCP proxy in front of
moto), requests failing with transient errors in storms and at random, replies
lost after the server stored the object, permanent errors, a process dying
mid-upload, an outage longer than the retries, and a slow server that stalls
past the request timeout.  moto cannot answer 500/503 on demand, so storms of
server errors come from :class:`FaultyStorage` placed between the retry
wrapper and the real S3 backend.

In every case the backup either completes or fails with a clean
``StorageError``, and afterwards: ``check --read-data`` passes, every snapshot
restores exactly, nothing referenced is missing, and the next backup completes.

Each scenario runs for the seeds in ``SITESNAP_CLOUD_SEEDS`` (default
``1,2``); set e.g. ``SITESNAP_CLOUD_SEEDS=1,2,3,4,5,6,7,8`` for a longer run.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from tests.storage.servers import S3Server

from sitesnap.engine.backup import backup_paths
from sitesnap.errors import StorageError
from sitesnap.repository.check import check_repository
from sitesnap.repository.repository import Repository
from sitesnap.storage.registry import open_storage
from sitesnap.storage.wrappers import FaultyStorage, RetryStorage, SimulatedCrash

from .conftest import (
    make_tree,
    mutate_tree,
    opened,
    restore_snapshot,
    run_cli,
    s3_repository_toml,
    site_toml,
    tree_state,
)
from .proxies import FaultProxy, ProxyPlan

SEEDS = [int(s) for s in os.environ.get("SITESNAP_CLOUD_SEEDS", "1,2").split(",") if s.strip()]

State = dict[str, tuple[Any, ...]]


def _port(server: S3Server) -> int:
    port = urlsplit(server.endpoint).port
    assert port is not None
    return port


def assert_consistent(server: S3Server, url: str, expected: dict[str, State], scratch: Path) -> None:
    """Through a clean connection: check --read-data passes, the snapshots are exactly
    ``expected`` and each restores to its recorded tree."""
    with opened(open_storage(url, server.options())) as repo:
        report = check_repository(repo, read_data=True)
        assert report.ok, report.errors
        assert report.packs_read == report.packs > 0
        assert sorted(repo.snapshot_ids()) == sorted(expected)
        for sid, state in expected.items():
            out = restore_snapshot(repo, sid, scratch / "restore")
            assert tree_state(out / "src") == state, f"snapshot {sid[:8]} restored differently"


def _backup(repo: Repository, src: Path, expected: dict[str, State]) -> str:
    sid = backup_paths(repo, [str(src)]).snapshot.id
    expected[sid] = tree_state(src)
    return sid


def _faulty_s3(server: S3Server, url: str, seed: int, attempts: int = 12) -> tuple[FaultyStorage, RetryStorage]:
    """RetryStorage(FaultyStorage(S3 backend)): injected faults are seen by the real retry policy."""
    raw = open_storage(url, server.options(retries=1))
    faulty = FaultyStorage(raw, seed=seed)
    return faulty, RetryStorage(faulty, attempts=attempts, base_delay=0.001, max_delay=0.01, seed=seed)


# --- dropped connections ----------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_connections_dropped_at_random_points(tmp_path: Path, s3_server: S3Server, bucket: str, seed: int) -> None:
    proxy = FaultProxy(_port(s3_server), ProxyPlan(drop_every=400 << 10), seed)
    url = f"s3://{bucket}/drops"
    src = make_tree(tmp_path / "src", seed)
    expected: dict[str, State] = {}
    try:
        with opened(open_storage(url, s3_server.options(endpoint=proxy.endpoint)), init=True) as repo:
            _backup(repo, src, expected)
            mutate_tree(src, seed)
            _backup(repo, src, expected)
    finally:
        proxy.close()
    assert proxy.drops > 0, "the proxy never dropped a connection"
    assert_consistent(s3_server, url, expected, tmp_path)


def test_multipart_pack_upload_cut_mid_way(tmp_path: Path, s3_server: S3Server, bucket: str) -> None:
    """Packs above the multipart threshold, with connections cut inside their parts."""
    plan = ProxyPlan(drop_every=2 << 20)
    proxy = FaultProxy(_port(s3_server), plan, seed=5)
    url = f"s3://{bucket}/multipart"
    src = make_tree(tmp_path / "src", 5, size=14 << 20)
    options = s3_server.options(endpoint=proxy.endpoint, part_size=5 << 20, multipart_threshold=(5 << 20) + 1)
    expected: dict[str, State] = {}
    try:
        with opened(open_storage(url, options), init=True) as repo:
            repo.pack_target = 6 << 20
            _backup(repo, src, expected)
    finally:
        proxy.close()
    assert proxy.drops > 0, f"no connection dropped among {proxy.connections}"
    sizes = [o["Size"] for o in s3_server.client().list_objects_v2(Bucket=bucket, Prefix="multipart/data/")["Contents"]]
    assert max(sizes) > (5 << 20) + 1, "no pack was large enough for a multipart upload"
    assert_consistent(s3_server, url, expected, tmp_path)


def test_site_backup_from_the_command_line_through_dropping_connections(
    tmp_path: Path, s3_server: S3Server, bucket: str
) -> None:
    """The user's path: site config, ``sitesnap backup``, default retry policy, connections dropped."""
    proxy = FaultProxy(_port(s3_server), ProxyPlan(drop_every=300 << 10), 9)
    src = make_tree(tmp_path / "site" / "uploads", 9)
    sources = f'[[sources]]\nname = "uploads"\ntype = "files"\npath = "{src}"\n'
    url = f"s3://{bucket}/site"
    flaky = site_toml(tmp_path / "flaky.toml", sources, [s3_repository_toml("cloud", url, proxy.endpoint)],
                      tmp_path / "state")
    clean = site_toml(tmp_path / "clean.toml", sources, [s3_repository_toml("cloud", url, s3_server.endpoint)],
                      tmp_path / "state")
    try:
        assert run_cli("-c", str(flaky), "init", "--kdf", "scrypt").code == 0
        for n in range(2):
            if n:
                mutate_tree(src, 9)
            res = run_cli("-c", str(flaky), "backup", "--json")
            assert res.code == 0, res.stderr
    finally:
        proxy.close()
    assert proxy.drops > 0
    check = run_cli("-c", str(clean), "check", "--read-data", "--json")
    assert check.code == 0, check.stdout + check.stderr
    assert json.loads(check.stdout.splitlines()[-1])["snapshots"] == 2
    out = tmp_path / "restored"
    res = run_cli("-c", str(clean), "restore", "latest", "--to", f"uploads={out}", "--yes")
    assert res.code == 0, res.stderr
    assert tree_state(out) == tree_state(src)


# --- transient and permanent request failures ---------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_storm_of_server_errors_and_lost_replies(tmp_path: Path, s3_server: S3Server, bucket: str, seed: int) -> None:
    url = f"s3://{bucket}/storm"
    faulty, storage = _faulty_s3(s3_server, url, seed)
    faulty.fail_nth("write", 1, transient=True, after=True)  # at least one lost reply, whatever the seed
    faulty.fail_randomly("*", 1.0, limit=8)  # the storm: the first requests all answer 503
    faulty.fail_randomly("*", 0.15)  # then about one request in seven fails
    faulty.fail_randomly("write", 0.25, after=True)  # or is stored but its reply never arrives
    src = make_tree(tmp_path / "src", seed)
    expected: dict[str, State] = {}
    with opened(storage, init=True) as repo:
        _backup(repo, src, expected)
        mutate_tree(src, seed)
        _backup(repo, src, expected)
    kinds = {kind for _, _, kind in faulty.injected}
    assert kinds == {"error", "error-after"} and len(faulty.injected) >= 10  # the storm happened
    assert_consistent(s3_server, url, expected, tmp_path)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("failure", ["permanent", "outage", "crash"])
def test_backup_that_cannot_finish_leaves_the_repository_consistent(
    tmp_path: Path, s3_server: S3Server, bucket: str, seed: int, failure: str
) -> None:
    """A permanent error at a random write, a 503 outage longer than the retries, or the
    process dying mid-upload: the backup stops, earlier snapshots stay intact, and the next
    backup (of the same data) completes."""
    url = f"s3://{bucket}/{failure}"
    faulty, storage = _faulty_s3(s3_server, url, seed, attempts=5)
    first = make_tree(tmp_path / "first" / "src", seed)
    second = make_tree(tmp_path / "second" / "src", seed + 100)
    expected: dict[str, State] = {}
    with opened(storage, init=True) as repo:
        _backup(repo, first, expected)
    nth = random.Random(seed).randint(1, 8)  # a fresh 3 MiB tree makes more than ten writes
    # The fatal rule comes first: when two rules hit one call, the first one decides.
    if failure == "permanent":
        faulty.fail_nth("write", nth, transient=False)
    elif failure == "outage":
        faulty.fail_randomly("write", 1.0, prefix="data/")
    else:
        faulty.die_mid_write(nth)
    for op in ("read", "stat", "list", "delete", *(("write",) if failure != "crash" else ())):
        faulty.fail_randomly(op, 0.1)  # transient noise throughout (a crash is not preceded by an error)
    with opened(storage) as repo:
        expect: type[BaseException] = SimulatedCrash if failure == "crash" else StorageError
        with pytest.raises(expect) as info:
            backup_paths(repo, [str(second)])
        if isinstance(info.value, StorageError):
            assert info.value.transient == (failure == "outage")
    assert_consistent(s3_server, url, expected, tmp_path)
    faulty.clear()
    with opened(storage) as repo:
        _backup(repo, second, expected)
    assert_consistent(s3_server, url, expected, tmp_path)


# --- a slow, stalling server ----------------------------------------------------------------------


def test_slow_server_that_stalls_past_the_timeout(tmp_path: Path, s3_server: S3Server, bucket: str) -> None:
    plan = ProxyPlan(delay=0.002, stall_probability=0.25, stall_seconds=2.5, max_stalls=3)
    proxy = FaultProxy(_port(s3_server), plan, seed=3)
    url = f"s3://{bucket}/slow"
    src = make_tree(tmp_path / "src", 3, size=2 << 20)
    expected: dict[str, State] = {}
    try:
        storage = open_storage(url, s3_server.options(endpoint=proxy.endpoint, timeout="1s"))
        with opened(storage, init=True) as repo:
            _backup(repo, src, expected)
    finally:
        proxy.close()
    assert proxy.stalls > 0, "the proxy never stalled a reply"
    assert_consistent(s3_server, url, expected, tmp_path)
