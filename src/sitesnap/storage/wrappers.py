"""Storage wrappers: behaviour layered over any backend.

Each wrapper takes a :class:`~sitesnap.storage.base.Storage`, exposes it as
``inner`` and is itself a ``Storage``, so they stack::

    RetryStorage(LimitedStorage(S3Storage(...), upload_bps=...))

- :class:`RetryStorage` retries what is transient, nothing else.
- :class:`LimitedStorage` caps upload and download bandwidth.
- :class:`AppendOnlyStorage` refuses deletes and overwrites.
- :class:`~sitesnap.storage.faulty.FaultyStorage` injects failures for tests.
"""

from __future__ import annotations

import dataclasses
import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from sitesnap.errors import AppendOnlyError, ObjectExists, ObjectNotFound, StorageError
from sitesnap.storage.base import Buffer, ObjectInfo, Storage, check_name
from sitesnap.storage.faulty import FaultyStorage, SimulatedCrash

__all__ = [
    "AppendOnlyStorage",
    "FaultyStorage",
    "LimitedStorage",
    "RetryStorage",
    "SimulatedCrash",
    "TokenBucket",
    "Wrapper",
]

T = TypeVar("T")


class Wrapper:
    """Forwards every call to ``inner``; subclasses override what they change."""

    def __init__(self, inner: Storage) -> None:
        self.inner = inner
        self.properties = inner.properties

    def create(self) -> None:
        self.inner.create()

    def stat(self, name: str) -> ObjectInfo:
        return self.inner.stat(name)

    def read(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        return self.inner.read(name, offset, length)

    def write(self, name: str, data: Buffer, *, exclusive: bool = False) -> None:
        self.inner.write(name, data, exclusive=exclusive)

    def delete(self, name: str) -> None:
        self.inner.delete(name)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        return self.inner.list(prefix)

    def close(self) -> None:
        self.inner.close()


RetryHook = Callable[[str, int, StorageError, float], None]


class RetryStorage(Wrapper):
    """Retry transient failures with exponential backoff and jitter.

    Only a :class:`StorageError` with ``transient=True`` is retried, at most
    ``attempts`` tries in all; the delay before retry *k* is
    ``min(max_delay, base_delay * 2**k)`` scaled by a random factor in
    [0.5, 1].  Anything else (not found, permission, no space, an exclusive
    create that lost) surfaces at once.  When an exclusive write fails
    transiently and its retry finds the name taken, the object is read back:
    if it holds exactly our bytes, the first attempt did land (only the reply
    was lost) and the write succeeded; otherwise ``ObjectExists`` is raised.
    ``list()`` is read completely under the retry so a failure mid-listing is
    retried as a whole.  ``on_retry(operation, attempt, error, delay)`` is
    called before each sleep (for logging and metrics).  Thread-safe.

    ``deadline`` (seconds) bounds one call, retries and sleeps included: no
    retry starts once its backoff would end past the deadline, and the last
    error is raised with the time spent.  With a backend whose every attempt
    is bounded by its own ``timeout``, one call therefore ends within
    ``deadline + timeout``, however long the storage stays silent.
    """

    def __init__(
        self,
        inner: Storage,
        *,
        attempts: int = 6,
        base_delay: float = 0.25,
        max_delay: float = 15.0,
        seed: int | None = None,
        on_retry: RetryHook | None = None,
        sleep: Callable[[float], None] = time.sleep,
        deadline: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        if deadline is not None and deadline <= 0:
            raise ValueError("deadline must be positive")
        super().__init__(inner)
        self.attempts = attempts
        self.deadline = deadline
        self._clock = clock
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.on_retry = on_retry
        self._sleep = sleep
        self._random = random.Random(seed)
        self._random_lock = threading.Lock()

    def _delay(self, attempt: int) -> float:
        with self._random_lock:
            jitter = self._random.uniform(0.5, 1.0)
        return min(self.max_delay, self.base_delay * 2.0**attempt) * jitter

    def _call(self, operation: str, func: Callable[[], T]) -> T:
        started = self._clock()
        for attempt in range(self.attempts):
            try:
                return func()
            except StorageError as exc:
                if not exc.transient or attempt + 1 >= self.attempts:
                    raise
                delay = self._delay(attempt)
                spent = self._clock() - started
                if self.deadline is not None and spent + delay > self.deadline:
                    raise self._gave_up(exc, attempt + 1, spent) from exc
                if self.on_retry is not None:
                    self.on_retry(operation, attempt + 1, exc, delay)
                self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _gave_up(self, exc: StorageError, attempts: int, spent: float) -> StorageError:
        """The last error, saying the deadline ended the retries (still transient: a later job may succeed)."""
        detail = exc.kwargs.get("detail") or exc.message
        return StorageError(
            f"{detail} (gave up after {attempts} attempts in {spent:.0f}s: the storage deadline is {self.deadline:g}s)",
            hint="The storage did not answer in time; check the endpoint and the network, "
                 "or raise the repository's deadline and timeout options.",
            transient=True,
        )

    def create(self) -> None:
        self._call("create", self.inner.create)

    def stat(self, name: str) -> ObjectInfo:
        return self._call("stat", lambda: self.inner.stat(name))

    def read(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        return self._call("read", lambda: self.inner.read(name, offset, length))

    def write(self, name: str, data: Buffer, *, exclusive: bool = False) -> None:
        if not exclusive:
            self._call("write", lambda: self.inner.write(name, data))
            return
        failed_once = False

        def attempt() -> None:
            nonlocal failed_once
            try:
                self.inner.write(name, data, exclusive=True)
            except ObjectExists:
                if failed_once and self._holds(name, data):
                    return
                raise
            except StorageError as exc:
                failed_once = failed_once or exc.transient
                raise

        self._call("write", attempt)

    def _holds(self, name: str, data: Buffer) -> bool:
        try:
            return self._call("read", lambda: self.inner.read(name)) == data
        except ObjectNotFound:
            return False

    def delete(self, name: str) -> None:
        self._call("delete", lambda: self.inner.delete(name))

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        return iter(self._call("list", lambda: list(self.inner.list(prefix))))


class TokenBucket:
    """A thread-safe token bucket: ``take(n)`` blocks until ``n`` tokens are paid for.

    ``rate`` tokens (bytes) per second accrue up to ``burst``.  A request
    larger than the bucket is allowed to run the bucket into debt and then
    waits the debt off, so big objects are not starved and the long-run
    average never exceeds ``rate``.
    """

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = float(rate)
        self.burst = float(burst if burst is not None else rate)
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.burst
        self._stamp = clock()
        self._lock = threading.Lock()

    def take(self, amount: int) -> float:
        """Pay for ``amount`` bytes; returns the seconds this call waited."""
        if amount <= 0:
            return 0.0
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            self._tokens -= amount
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)
        return wait

    def charge(self, amount: int) -> None:
        """Count ``amount`` bytes against the rate without waiting (the next ``take`` pays for them)."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate) - amount
            self._stamp = now


class LimitedStorage(Wrapper):
    """Cap average upload and download bandwidth (bytes per second; ``None`` = unlimited).

    Writes pay for their bytes before they start; reads pay after they
    return, so a stream of operations never exceeds the limit on average.
    One bucket per direction is shared by all threads.  Writes up to
    ``SMALL_WRITE`` bytes (locks, index files, snapshots) are counted but never
    queue behind the packs in flight: a lock refresh or the index an
    interrupted backup leaves must not wait for seconds of pack debt.
    """

    SMALL_WRITE = 256 << 10

    def __init__(
        self,
        inner: Storage,
        *,
        upload_bps: float | None = None,
        download_bps: float | None = None,
        burst_seconds: float = 1.0,
    ) -> None:
        super().__init__(inner)
        self.upload = TokenBucket(upload_bps, upload_bps * burst_seconds) if upload_bps else None
        self.download = TokenBucket(download_bps, download_bps * burst_seconds) if download_bps else None

    def read(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        data = self.inner.read(name, offset, length)
        if self.download is not None:
            self.download.take(len(data))
        return data

    def write(self, name: str, data: Buffer, *, exclusive: bool = False) -> None:
        if self.upload is not None:
            size = len(memoryview(data))
            if size <= self.SMALL_WRITE:
                self.upload.charge(size)
            else:
                self.upload.take(size)
        self.inner.write(name, data, exclusive=exclusive)


class AppendOnlyStorage(Wrapper):
    """Refuse to delete or overwrite objects, except under ``exempt_prefixes``.

    Locks must still be removable, so ``locks/`` is exempt by default.  An
    overwrite with identical bytes is accepted (a retried upload of a
    content-addressed object is not a change).  ``properties.append_only`` is
    true so the repository refuses forget/prune before starting.
    """

    def __init__(self, inner: Storage, *, exempt_prefixes: tuple[str, ...] = ("locks/",)) -> None:
        super().__init__(inner)
        self.exempt_prefixes = exempt_prefixes
        self.properties = dataclasses.replace(inner.properties, append_only=True)

    def _exempt(self, name: str) -> bool:
        return check_name(name).startswith(self.exempt_prefixes)

    def delete(self, name: str) -> None:
        if not self._exempt(name):
            raise AppendOnlyError(f"cannot delete {name}: the repository is append-only")
        self.inner.delete(name)

    def write(self, name: str, data: Buffer, *, exclusive: bool = False) -> None:
        if exclusive or self._exempt(name):
            self.inner.write(name, data, exclusive=exclusive)
            return
        try:
            self.inner.write(name, data, exclusive=True)
        except ObjectExists:
            if self.inner.read(name) != data:
                raise AppendOnlyError(f"cannot overwrite {name}: the repository is append-only") from None
