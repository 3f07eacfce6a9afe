"""The storage conformance suite: one contract, every backend.

A backend's test module subclasses :class:`StorageConformance` and provides a
``storage`` fixture that yields a fresh, created, empty ``Storage``.  Each
test here states one clause of the contract in ``sitesnap.storage.base``.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from sitesnap.errors import ObjectExists, ObjectNotFound
from sitesnap.storage.base import ObjectInfo, Storage

MiB = 1024 * 1024


def names_of(storage: Storage, prefix: str = "") -> list[str]:
    return sorted(info.name for info in storage.list(prefix))


def run_threads(count: int, func: Callable[[int], object]) -> list[object]:
    """Run ``func(i)`` on ``count`` threads released together; return results or exceptions."""
    barrier = threading.Barrier(count)

    def call(i: int) -> object:
        barrier.wait()
        try:
            return func(i)
        except Exception as exc:
            return exc

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(call, range(count)))


class StorageConformance:
    """Subclass me and define a ``storage`` fixture."""

    big_size = 70 * MiB
    race_threads = 12

    def test_create_is_idempotent(self, storage: Storage) -> None:
        storage.create()
        storage.create()
        storage.write("config", b"x")
        storage.create()
        assert storage.read("config") == b"x"

    def test_roundtrip(self, storage: Storage) -> None:
        storage.write("keys/k1", b"secret key")
        assert storage.read("keys/k1") == b"secret key"
        assert storage.stat("keys/k1") == ObjectInfo("keys/k1", 10)
        assert list(storage.list("keys/")) == [ObjectInfo("keys/k1", 10)]
        storage.delete("keys/k1")
        assert names_of(storage) == []
        with pytest.raises(ObjectNotFound):
            storage.read("keys/k1")

    def test_missing_object(self, storage: Storage) -> None:
        with pytest.raises(ObjectNotFound):
            storage.stat("nothing")
        with pytest.raises(ObjectNotFound):
            storage.read("nothing")
        with pytest.raises(ObjectNotFound):
            storage.read("no/such/dir/object", 5, 5)

    def test_directory_like_prefix_is_not_an_object(self, storage: Storage) -> None:
        storage.write("data/ab/cd", b"1")
        with pytest.raises(ObjectNotFound):
            storage.stat("data/ab")
        with pytest.raises(ObjectNotFound):
            storage.read("data")
        storage.delete("data")  # deleting a "directory" is deleting nothing
        assert storage.read("data/ab/cd") == b"1"

    def test_ranges(self, storage: Storage) -> None:
        data = bytes(range(256)) * 4
        storage.write("r", data)
        assert storage.read("r", 0, 10) == data[:10]
        assert storage.read("r", 100) == data[100:]
        assert storage.read("r", 100, 50) == data[100:150]
        assert storage.read("r", 1000, 100) == data[1000:]  # runs past the end
        assert storage.read("r", 1024) == b""
        assert storage.read("r", 5000, 10) == b""
        assert storage.read("r", 10, 0) == b""
        assert storage.read("r", length=1024) == data

    def test_empty_object(self, storage: Storage) -> None:
        storage.write("empty", b"")
        assert storage.read("empty") == b""
        assert storage.read("empty", 0, 10) == b""
        assert storage.stat("empty").size == 0
        assert list(storage.list()) == [ObjectInfo("empty", 0)]

    def test_overwrite_replaces(self, storage: Storage) -> None:
        storage.write("index/1", b"old content")
        storage.write("index/1", b"new")
        assert storage.read("index/1") == b"new"
        assert storage.stat("index/1").size == 3
        assert names_of(storage) == ["index/1"]

    def test_exclusive_create(self, storage: Storage) -> None:
        storage.write("locks/a", b"first", exclusive=True)
        with pytest.raises(ObjectExists):
            storage.write("locks/a", b"second", exclusive=True)
        assert storage.read("locks/a") == b"first"
        storage.delete("locks/a")
        storage.write("locks/a", b"third", exclusive=True)
        assert storage.read("locks/a") == b"third"

    def test_exclusive_create_race_has_one_winner(self, storage: Storage) -> None:
        def attempt(i: int) -> int:
            storage.write("locks/race", f"writer {i}".encode(), exclusive=True)
            return i

        results = run_threads(self.race_threads, attempt)
        winners = [r for r in results if isinstance(r, int)]
        losers = [r for r in results if isinstance(r, ObjectExists)]
        assert len(winners) == 1, results
        assert len(losers) == self.race_threads - 1, results
        assert storage.read("locks/race") == f"writer {winners[0]}".encode()

    def test_delete_is_idempotent(self, storage: Storage) -> None:
        storage.delete("never/written")
        storage.write("x", b"1")
        storage.delete("x")
        storage.delete("x")
        assert names_of(storage) == []

    def test_list_prefixes(self, storage: Storage) -> None:
        names = [
            "config",
            "data/00/aa",
            "data/00/ab",
            "data/01/ba",
            "index/i1",
            "indexed",
            "keys/k",
        ]
        for n in names:
            storage.write(n, n.encode())
        assert names_of(storage) == names
        assert names_of(storage, "data/") == ["data/00/aa", "data/00/ab", "data/01/ba"]
        assert names_of(storage, "data/00/") == ["data/00/aa", "data/00/ab"]
        assert names_of(storage, "data/0") == ["data/00/aa", "data/00/ab", "data/01/ba"]
        assert names_of(storage, "data/00/a") == ["data/00/aa", "data/00/ab"]
        assert names_of(storage, "index") == ["index/i1", "indexed"]
        assert names_of(storage, "index/") == ["index/i1"]
        assert names_of(storage, "zzz") == []
        assert names_of(storage, "zzz/") == []
        sizes = {info.name: info.size for info in storage.list()}
        assert sizes == {n: len(n) for n in names}

    def test_many_segments(self, storage: Storage) -> None:
        name = "/".join(f"s{i}" for i in range(12)) + "/leaf"
        storage.write(name, b"deep")
        assert storage.read(name) == b"deep"
        assert names_of(storage, "s0/s1/") == [name]
        storage.delete(name)
        assert names_of(storage) == []

    def test_big_object(self, storage: Storage) -> None:
        data = os.urandom(MiB) * (self.big_size // MiB) + b"tail"
        storage.write("data/big", data)
        assert storage.stat("data/big").size == len(data)
        assert storage.read("data/big", len(data) - 4) == b"tail"
        assert storage.read("data/big", 3 * MiB + 7, 1000) == data[3 * MiB + 7 : 3 * MiB + 1007]
        got = storage.read("data/big")
        assert len(got) == len(data)
        assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()

    def test_binary_content_is_exact(self, storage: Storage) -> None:
        data = bytes(range(256)) + b"\r\n\x00\xff" * 100
        storage.write("bin", data)
        assert storage.read("bin") == data

    def test_threads(self, storage: Storage) -> None:
        def work(i: int) -> None:
            for j in range(5):
                name = f"data/t{i}/{j}"
                payload = os.urandom(1000 + i * 10 + j)
                storage.write(name, payload)
                assert storage.read(name) == payload
                assert storage.stat(name).size == len(payload)
            storage.delete(f"data/t{i}/0")

        results = run_threads(8, work)
        assert [r for r in results if r is not None] == []
        listed = names_of(storage, "data/")
        assert len(listed) == 8 * 4
        assert "data/t3/0" not in listed

    def test_readers_never_see_partial_overwrite(self, storage: Storage) -> None:
        size = 256 * 1024
        payloads = [b"A" * size, b"B" * size]
        storage.write("snapshots/s", payloads[0])
        stop = threading.Event()

        def writer() -> None:
            for i in range(12):
                storage.write("snapshots/s", payloads[i % 2])
            stop.set()

        seen: list[bytes] = []

        def reader() -> None:
            while True:
                seen.append(storage.read("snapshots/s"))
                if stop.is_set():
                    return

        threads = [threading.Thread(target=writer), threading.Thread(target=reader)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert seen
        assert all(s in payloads for s in seen)

    @pytest.mark.parametrize(
        "name",
        ["", "/abs", "../up", "a/../b", "a//b", "a/./b", "trailing/", "back\\slash", "nul\x00"],
    )
    def test_invalid_names_rejected(self, storage: Storage, name: str) -> None:
        with pytest.raises(ValueError):
            storage.write(name, b"x")
        with pytest.raises(ValueError):
            storage.read(name)
        with pytest.raises(ValueError):
            storage.stat(name)
        with pytest.raises(ValueError):
            storage.delete(name)

    def test_close_is_idempotent(self, storage: Storage) -> None:
        storage.write("x", b"1")
        storage.close()
        storage.close()

    def test_properties(self, storage: Storage) -> None:
        props = storage.properties
        assert props.kind
        assert props.url
        assert "secret" not in props.url.lower()
