"""Wrappers: conformance where the contract still holds, and each one's own behaviour."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sitesnap.errors import AppendOnlyError, ObjectExists, ObjectNotFound, StorageError
from sitesnap.storage.base import Storage
from sitesnap.storage.local import TEMP_PREFIX, LocalStorage
from sitesnap.storage.memory import MemoryStorage
from sitesnap.storage.wrappers import (
    AppendOnlyStorage,
    FaultyStorage,
    LimitedStorage,
    RetryStorage,
    SimulatedCrash,
    TokenBucket,
)

from .conformance import StorageConformance


def _local(tmp_path: Path) -> LocalStorage:
    backend = LocalStorage(tmp_path / "repo")
    backend.create()
    return backend


class TestRetryConformance(StorageConformance):
    @pytest.fixture
    def storage(self, tmp_path: Path) -> Iterator[Storage]:
        backend = RetryStorage(_local(tmp_path), base_delay=0.001)
        yield backend
        backend.close()


class TestLimitedConformance(StorageConformance):
    @pytest.fixture
    def storage(self, tmp_path: Path) -> Iterator[Storage]:
        limit = 4 * 1024**3  # generous: the suite moves ~150 MiB
        backend = LimitedStorage(_local(tmp_path), upload_bps=limit, download_bps=limit)
        yield backend
        backend.close()


class TestRetryOverFaultsConformance(StorageConformance):
    """With a retry wrapper, a backend failing 20 % of calls still meets the whole contract."""

    big_size = 8 * 1024 * 1024

    @pytest.fixture
    def storage(self, tmp_path: Path) -> Iterator[Storage]:
        faulty = FaultyStorage(_local(tmp_path), seed=7)
        faulty.fail_randomly("*", 0.1).fail_randomly("*", 0.1, after=True)
        backend = RetryStorage(faulty, attempts=30, base_delay=0.0001, max_delay=0.001)
        yield backend
        backend.close()


# -- RetryStorage --------------------------------------------------------------


def test_retry_gives_up_after_bounded_attempts() -> None:
    faulty = FaultyStorage(MemoryStorage(), seed=1).fail_randomly("read", 1.0)
    faulty.inner.write("x", b"1")
    delays: list[float] = []
    retry = RetryStorage(faulty, attempts=4, base_delay=0.1, max_delay=0.3, sleep=delays.append)
    with pytest.raises(StorageError) as info:
        retry.read("x")
    assert info.value.transient
    assert faulty.calls["read"] == 4
    assert len(delays) == 3
    assert 0.05 <= delays[0] <= 0.1 and 0.1 <= delays[1] <= 0.2 and 0.15 <= delays[2] <= 0.3


def test_retry_never_retries_permanent_errors() -> None:
    faulty = FaultyStorage(MemoryStorage()).fail_nth("write", 1, transient=False)
    retry = RetryStorage(faulty, sleep=lambda _: None)
    with pytest.raises(StorageError):
        retry.write("x", b"1")
    assert faulty.calls["write"] == 1
    with pytest.raises(ObjectNotFound):
        retry.read("missing")
    assert faulty.calls["read"] == 1


def test_retry_never_retries_a_lost_exclusive_race() -> None:
    faulty = FaultyStorage(MemoryStorage())
    retry = RetryStorage(faulty, sleep=lambda _: None)
    retry.write("locks/l", b"theirs", exclusive=True)
    with pytest.raises(ObjectExists):
        retry.write("locks/l", b"mine", exclusive=True)
    assert faulty.calls["write"] == 2


def test_retry_of_exclusive_write_whose_reply_was_lost_succeeds() -> None:
    faulty = FaultyStorage(MemoryStorage()).fail_nth("write", 1, transient=True, after=True)
    retry = RetryStorage(faulty, sleep=lambda _: None)
    retry.write("locks/l", b"mine", exclusive=True)  # landed, reply lost, retry sees it is ours
    assert faulty.inner.read("locks/l") == b"mine"


def test_retry_of_exclusive_write_taken_meanwhile_by_another_fails() -> None:
    inner = MemoryStorage()
    faulty = FaultyStorage(inner).fail_nth("write", 1, transient=True)

    def other_writer_wins(_delay: float) -> None:
        inner.write("locks/l", b"theirs", exclusive=True)

    retry = RetryStorage(faulty, sleep=other_writer_wins)
    with pytest.raises(ObjectExists):
        retry.write("locks/l", b"mine", exclusive=True)
    assert inner.read("locks/l") == b"theirs"


def test_retry_reports_each_retry() -> None:
    faulty = FaultyStorage(MemoryStorage()).fail_nth("stat", 1, transient=True)
    faulty.inner.write("x", b"12")
    seen: list[tuple[str, int]] = []
    retry = RetryStorage(faulty, sleep=lambda _: None, on_retry=lambda op, n, e, d: seen.append((op, n)))
    assert retry.stat("x").size == 2
    assert seen == [("stat", 1)]


# -- LimitedStorage / TokenBucket ------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_token_bucket_average_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(1000, 1000, clock=clock, sleep=clock.sleep)
    assert bucket.take(1000) == 0  # the initial burst
    for _ in range(10):
        bucket.take(500)
    assert clock.now == pytest.approx(5.0)
    assert bucket.take(3000) == pytest.approx(3.0)  # bigger than the bucket: pays its debt


def test_limited_storage_really_limits(tmp_path: Path) -> None:
    limited = LimitedStorage(_local(tmp_path), upload_bps=2_000_000, download_bps=4_000_000)
    payload = b"x" * 1_000_000
    start = time.monotonic()
    for i in range(4):  # 4 MB at 2 MB/s with a 2 MB burst: at least 1 s
        limited.write(f"data/{i}", payload)
    upload = time.monotonic() - start
    start = time.monotonic()
    for i in range(4):  # 4 MB (+4 MB burst) at 4 MB/s: the reads run into no wait
        limited.read(f"data/{i}")
    for i in range(4):  # another 4 MB: at least ~1 s more
        limited.read(f"data/{i}")
    download = time.monotonic() - start
    assert 0.9 <= upload <= 3.0
    assert 0.9 <= download <= 3.0


def test_a_small_write_does_not_queue_behind_pack_debt(tmp_path: Path) -> None:
    limited = LimitedStorage(_local(tmp_path), upload_bps=1_000_000)
    # A pack upload runs the bucket 1 s into debt and waits it off in its thread.
    pack = threading.Thread(target=limited.write, args=("data/big", b"x" * 2_000_000))
    pack.start()
    time.sleep(0.1)
    start = time.monotonic()
    limited.write("index/small", b"i" * 4096)
    assert time.monotonic() - start < 0.3
    pack.join()
    start = time.monotonic()
    limited.write("data/next", b"x" * 500_000)  # the next pack still pays for the index's bytes and the debt
    assert time.monotonic() - start >= 0.3


# -- AppendOnlyStorage -----------------------------------------------------------


def test_append_only_refuses_delete_and_overwrite(tmp_path: Path) -> None:
    inner = _local(tmp_path)
    store = AppendOnlyStorage(inner)
    assert store.properties.append_only and not inner.properties.append_only
    store.write("snapshots/s1", b"snapshot")
    with pytest.raises(AppendOnlyError):
        store.delete("snapshots/s1")
    with pytest.raises(AppendOnlyError):
        store.write("snapshots/s1", b"forged")
    with pytest.raises(ObjectExists):
        store.write("snapshots/s1", b"forged", exclusive=True)
    store.write("snapshots/s1", b"snapshot")  # same bytes again: a harmless retry
    assert inner.read("snapshots/s1") == b"snapshot"


def test_append_only_exempt_prefixes(tmp_path: Path) -> None:
    store = AppendOnlyStorage(_local(tmp_path))
    store.write("locks/l1", b"lock", exclusive=True)
    store.write("locks/l1", b"refreshed")
    store.delete("locks/l1")
    assert [i.name for i in store.list()] == []
    custom = AppendOnlyStorage(store.inner, exempt_prefixes=("tmp/", "locks/"))
    custom.write("tmp/x", b"1")
    custom.delete("tmp/x")
    custom.write("index/i", b"1")
    with pytest.raises(AppendOnlyError):
        custom.delete("index/i")
    with pytest.raises(ValueError):
        custom.delete("locks/../index/i")


# -- FaultyStorage ---------------------------------------------------------------


def test_faulty_nth_write_fails_and_nothing_is_written() -> None:
    faulty = FaultyStorage(MemoryStorage()).fail_nth("write", 2)
    faulty.write("a", b"1")
    with pytest.raises(StorageError) as info:
        faulty.write("b", b"2")
    assert not info.value.transient
    faulty.write("c", b"3")
    assert sorted(faulty.inner.objects) == ["a", "c"]  # type: ignore[attr-defined]
    assert faulty.injected == [("write", "b", "error")]


def test_faulty_random_failures_are_deterministic() -> None:
    def run(seed: int) -> list[int]:
        faulty = FaultyStorage(MemoryStorage(), seed=seed).fail_randomly("write", 0.3)
        failed = []
        for i in range(200):
            try:
                faulty.write(f"o{i}", b"")
            except StorageError as exc:
                assert exc.transient
                failed.append(i)
        return failed

    assert run(5) == run(5)
    assert run(5) != run(6)
    assert 30 <= len(run(5)) <= 90


def test_faulty_flip_and_truncate() -> None:
    inner = MemoryStorage()
    data = bytes(range(256)) * 10
    inner.write("p", data)
    faulty = FaultyStorage(inner, seed=3).flip_bit(nth=1).cut_short(nth=3)
    flipped = faulty.read("p")
    assert len(flipped) == len(data)
    assert sum(bin(a ^ b).count("1") for a, b in zip(flipped, data, strict=True)) == 1
    assert faulty.read("p") == data
    assert faulty.read("p") == data[: len(data) // 2]
    assert faulty.read("p") == data


def test_faulty_die_mid_write_leaves_nothing_visible(tmp_path: Path) -> None:
    local = _local(tmp_path)
    faulty = FaultyStorage(local).die_mid_write(1).die_mid_write(2, leave_partial=True)
    with pytest.raises(SimulatedCrash):
        faulty.write("data/00/a", b"pack bytes" * 100)
    with pytest.raises(SimulatedCrash):
        faulty.write("data/00/b", b"pack bytes" * 100)
    assert list(local.list()) == []
    leftovers = [p.name for p in (local.root / "data" / "00").iterdir()]
    assert len(leftovers) == 1 and leftovers[0].startswith(TEMP_PREFIX)
    faulty.write("data/00/b", b"ok")
    assert local.read("data/00/b") == b"ok"
