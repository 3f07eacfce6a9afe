"""Faults: transient storms are ridden out, permanent errors surface at once, and a
connection dropped mid-upload never leaves a partial object behind."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from sitesnap.errors import ObjectNotFound, PermissionDenied, StorageError
from sitesnap.storage.local import LocalStorage
from sitesnap.storage.registry import open_storage
from sitesnap.storage.s3 import S3Storage
from sitesnap.storage.wrappers import FaultyStorage, RetryStorage

from .servers import CuttingProxy, S3Server

BUCKET = "sitesnap-faults"


def _fast_retry(inner: FaultyStorage, attempts: int = 40) -> RetryStorage:
    return RetryStorage(inner, attempts=attempts, base_delay=0.0005, max_delay=0.002, seed=1)


def _exercise(store: RetryStorage, count: int) -> dict[str, bytes]:
    written = {f"data/{i % 4:02x}/{i:04d}": hashlib.sha256(str(i).encode()).digest() * (i + 1)
               for i in range(count)}  # fmt: skip
    for name, data in written.items():
        store.write(name, data)
    store.write("locks/lock", b"me", exclusive=True)
    for name, data in written.items():
        assert store.read(name) == data
        assert store.stat(name).size == len(data)
    assert sorted(i.name for i in store.list("data/")) == sorted(written)
    return written


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_retry_rides_out_a_transient_storm(tmp_path: Path, seed: int) -> None:
    local = LocalStorage(tmp_path / "repo")
    local.create()
    faulty = FaultyStorage(local, seed=seed)
    faulty.fail_randomly("*", 0.4).fail_randomly("write", 0.2, after=True)
    retry = _fast_retry(faulty)
    written = _exercise(retry, 60)
    assert len(faulty.injected) > 30
    assert {i.name for i in local.list("data/")} == set(written)
    assert local.read("locks/lock") == b"me"


def test_permanent_errors_surface_at_once(tmp_path: Path) -> None:
    local = LocalStorage(tmp_path / "repo")
    local.create()
    faulty = FaultyStorage(local).fail_nth("write", 1, transient=False)
    retry = _fast_retry(faulty)
    with pytest.raises(StorageError) as info:
        retry.write("data/x", b"1")
    assert not info.value.transient
    assert faulty.calls["write"] == 1
    with pytest.raises(ObjectNotFound):
        retry.read("data/x")
    assert faulty.calls["read"] == 1


def test_a_storm_longer_than_the_budget_fails_cleanly(tmp_path: Path) -> None:
    local = LocalStorage(tmp_path / "repo")
    local.create()
    faulty = FaultyStorage(local).fail_randomly("write", 1.0)
    retry = _fast_retry(faulty, attempts=5)
    with pytest.raises(StorageError) as info:
        retry.write("data/x", b"1")
    assert info.value.transient
    assert faulty.calls["write"] == 5
    assert list(local.list()) == []


# -- against the real S3 server ---------------------------------------------------


@pytest.fixture(scope="module")
def fault_bucket(s3_server: S3Server) -> str:
    open_storage(f"s3://{BUCKET}", s3_server.options(create_bucket=True)).create()
    return BUCKET


@pytest.fixture
def direct(s3_server: S3Server, fault_bucket: str) -> Iterator[S3Storage]:
    store = open_storage(f"s3://{fault_bucket}/{uuid.uuid4().hex}", s3_server.options(retries=1))
    assert isinstance(store, S3Storage)
    yield store
    store.close()


def _through(proxy: CuttingProxy, s3_server: S3Server, direct: S3Storage, **extra: object) -> S3Storage:
    endpoint = f"http://127.0.0.1:{proxy.port}"
    url = f"s3://{direct.opts.bucket}/{direct.opts.prefix}"
    store = open_storage(url, s3_server.options(endpoint=endpoint, retries=1, **extra))
    assert isinstance(store, S3Storage)
    return store


@pytest.mark.parametrize(("size", "cut_at"), [(3 << 20, 1 << 20), (14 << 20, 8 << 20)])
def test_dropped_connection_mid_upload_leaves_no_partial_object(
    s3_server: S3Server, direct: S3Storage, size: int, cut_at: int
) -> None:
    port = urlsplit(s3_server.endpoint).port
    assert port is not None
    proxy = CuttingProxy(port, budget=cut_at, cuts=1)
    store = _through(proxy, s3_server, direct, part_size=5 << 20, multipart_threshold=6 << 20,
                     upload_concurrency=1)  # fmt: skip
    try:
        data = bytes(range(256)) * (size // 256)
        with pytest.raises(StorageError) as info:
            store.write("data/pack", data)
        assert info.value.transient
        assert proxy.cut_count == 1
        with pytest.raises(ObjectNotFound):
            direct.stat("data/pack")
        assert list(direct.list()) == []
        # The same upload retried through the wrapper completes, whole.
        RetryStorage(store, base_delay=0.01).write("data/pack", data)
        assert direct.read("data/pack") == data
    finally:
        store.close()
        proxy.close()


def test_retry_over_real_s3_with_injected_5xx_storm(direct: S3Storage) -> None:
    faulty = FaultyStorage(direct, seed=11).fail_randomly("*", 0.3).fail_randomly("write", 0.15, after=True)
    _exercise(_fast_retry(faulty), 25)
    assert faulty.injected


def test_expired_credentials_are_not_retried(direct: S3Storage) -> None:
    class Expired(FaultyStorage):
        def write(self, name: str, data: bytes, *, exclusive: bool = False) -> None:
            self.calls["write"] += 1
            raise PermissionDenied(f"{name}: ExpiredToken: the security token has expired")

    expired = Expired(direct)
    retry = _fast_retry(expired)
    with pytest.raises(PermissionDenied):
        retry.write("data/x", b"1")
    assert expired.calls["write"] == 1
