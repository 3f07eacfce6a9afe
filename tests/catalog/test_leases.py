"""Leases on SQLite, PostgreSQL and MariaDB: one holder at a time, renewal, expiry,
take-over from a dead holder, and one winner when threads race for a free lease."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from sitesnap.catalog import Catalog, Leases, open_catalog

T0 = datetime(2026, 12, 1, 3, 0, 0, 250000, tzinfo=UTC)
TTL = timedelta(seconds=90)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def catalog(catalog_url: str) -> Iterator[Catalog]:
    cat = open_catalog(catalog_url)
    yield cat
    cat.close()


def test_one_holder_renewal_expiry_and_release(catalog: Catalog) -> None:
    clock = Clock()
    leases = Leases(catalog.engine, clock=clock)
    assert leases.get("scheduler:blog") is None
    assert leases.acquire("scheduler:blog", "a", TTL, host="h1", pid=11)
    assert not leases.acquire("scheduler:blog", "b", TTL, host="h2", pid=22)
    held = leases.get("scheduler:blog")
    assert held is not None and (held.holder, held.host, held.pid) == ("a", "h1", 11)
    assert held.expires_at == T0 + TTL

    clock.now = T0 + timedelta(seconds=60)
    assert leases.acquire("scheduler:blog", "a", TTL, host="h1", pid=11)  # renewal
    renewed = leases.get("scheduler:blog")
    assert renewed is not None and renewed.expires_at == clock.now + TTL and renewed.acquired_at == T0
    clock.now = T0 + timedelta(seconds=120)  # the first expiry has passed, the renewed one not
    assert not leases.acquire("scheduler:blog", "b", TTL, host="h2", pid=22)

    clock.now = T0 + timedelta(seconds=60) + TTL  # expired: anyone may take it
    assert leases.acquire("scheduler:blog", "b", TTL, host="h2", pid=22)
    assert not leases.acquire("scheduler:blog", "a", TTL, host="h1", pid=11)
    assert not leases.release("scheduler:blog", "a")  # not its lease any more
    assert leases.release("scheduler:blog", "b")
    assert leases.get("scheduler:blog") is None
    assert leases.acquire("alerts:blog", "c", TTL) and leases.acquire("scheduler:blog", "a", TTL)


def test_a_named_dead_holder_is_replaced_before_expiry(catalog: Catalog) -> None:
    leases = Leases(catalog.engine, clock=Clock())
    assert leases.acquire("alerts:blog", "dead", TTL, host="h1", pid=11)
    assert not leases.acquire("alerts:blog", "new", TTL, host="h1", pid=12, replace="someone-else")
    assert leases.acquire("alerts:blog", "new", TTL, host="h1", pid=12, replace="dead")
    held = leases.get("alerts:blog")
    assert held is not None and held.holder == "new" and held.pid == 12


def test_threads_racing_for_a_free_lease_have_one_winner(catalog: Catalog, catalog_url: str) -> None:
    start = threading.Barrier(6)
    won: list[str] = []

    def take(holder: str) -> None:
        cat = open_catalog(catalog_url)
        try:
            start.wait()
            if Leases(cat.engine).acquire("alerts:race", holder, TTL):
                won.append(holder)
        finally:
            cat.close()

    threads = [threading.Thread(target=take, args=(f"t{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(won) == 1
