"""The retry wrapper's deadline bounds a call against storage that keeps failing transiently."""

from __future__ import annotations

import pytest

from sitesnap.errors import ConfigError, StorageError
from sitesnap.storage.memory import MemoryStorage
from sitesnap.storage.registry import open_storage, seconds
from sitesnap.storage.wrappers import RetryStorage


class SlowClock:
    """A fake monotonic clock that sleeps and timed-out requests advance."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class Silent(MemoryStorage):
    """Storage whose every read times out after ``timeout`` seconds of the shared clock."""

    def __init__(self, clock: SlowClock, timeout: float) -> None:
        super().__init__("silent")
        self.clock = clock
        self.timeout = timeout
        self.calls = 0

    def read(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        self.calls += 1
        self.clock.now += self.timeout
        raise StorageError(f"{name}: timed out", transient=True)


def test_no_retry_starts_past_the_deadline() -> None:
    clock = SlowClock()
    inner = Silent(clock, timeout=10.0)
    storage = RetryStorage(inner, attempts=50, base_delay=1.0, max_delay=4.0, seed=1,
                           sleep=clock.sleep, clock=clock, deadline=30.0)
    with pytest.raises(StorageError) as caught:
        storage.read("data/x")
    assert caught.value.transient
    assert "deadline is 30s" in caught.value.message
    assert clock.now <= 30.0 + 10.0  # deadline + one attempt's timeout
    assert 2 <= inner.calls < 50


def test_without_a_deadline_every_attempt_is_made() -> None:
    clock = SlowClock()
    inner = Silent(clock, timeout=10.0)
    storage = RetryStorage(inner, attempts=5, base_delay=1.0, seed=1, sleep=clock.sleep, clock=clock)
    with pytest.raises(StorageError):
        storage.read("data/x")
    assert inner.calls == 5


def test_the_deadline_option_is_parsed_and_checked() -> None:
    assert seconds("90s") == 90.0 and seconds("2m") == 120.0 and seconds(5) == 5.0 and seconds("500ms") == 0.5
    with pytest.raises(ConfigError):
        open_storage("memory://x", {"deadline": "0s", "retries": 3})
    wrapped = open_storage("memory://x", {"deadline": "45s", "retries": 3})
    assert isinstance(wrapped, RetryStorage) and wrapped.deadline == 45.0
