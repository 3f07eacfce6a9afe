"""A fault-injecting storage wrapper for tests.

:class:`FaultyStorage` passes calls through to a real backend and, following
rules set by the test, fails the Nth call of an operation, fails calls at
random with probability *p*, flips one bit in what a read returns, cuts a
read short, or "dies" in the middle of a write.  Everything is deterministic
for a given ``seed``: random decisions hash ``(seed, rule, operation, name,
how many times this name was seen)``, so they do not depend on thread
scheduling.  Every fault that fires is recorded in ``injected``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import secrets
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

from sitesnap.errors import StorageError
from sitesnap.storage.base import Buffer, ObjectInfo, Storage, check_name
from sitesnap.storage.local import TEMP_PREFIX, LocalStorage

__all__ = ["FaultRule", "FaultyStorage", "SimulatedCrash"]

OPERATIONS = ("create", "stat", "read", "write", "delete", "list")


class SimulatedCrash(BaseException):
    """The process "died" here.

    A ``BaseException``, so ``except Exception`` cleanup code does not run, as in a real crash.
    """


@dataclasses.dataclass
class FaultRule:
    """One kind of fault on one operation.

    ``kind`` is ``error`` (raise before the call), ``error-after`` (do the call,
    then raise: the reply was lost), ``flip`` / ``truncate`` (damage what a
    read returns), or ``die`` (a write that never happens; with
    ``leave_partial`` a local backend also keeps a half-written temp file).
    The rule fires on the ``nth`` matching call (1-based) or with
    ``probability``, for names starting with ``prefix``, at most ``limit`` times.
    """

    op: str
    kind: str
    nth: int | None = None
    probability: float = 0.0
    prefix: str = ""
    transient: bool = True
    leave_partial: bool = False
    limit: int | None = None
    seen: int = 0
    fired: int = 0


class FaultyStorage:
    """Wraps ``inner``; configure faults with the chainable methods below. Thread-safe."""

    def __init__(self, inner: Storage, *, seed: int = 0) -> None:
        self.inner = inner
        self.properties = inner.properties
        self.seed = seed
        self.rules: list[FaultRule] = []
        self.calls: Counter[str] = Counter()
        self.injected: list[tuple[str, str, str]] = []
        self._per_name: Counter[tuple[int, str, str]] = Counter()
        self._lock = threading.Lock()
        if callable(getattr(inner, "open_append", None)):
            self.open_append = self._open_append

    # -- configuration ---------------------------------------------------

    def add(self, rule: FaultRule) -> FaultyStorage:
        if rule.op not in (*OPERATIONS, "*"):
            raise ValueError(f"unknown operation {rule.op!r}")
        with self._lock:
            self.rules.append(rule)
        return self

    def fail_nth(
        self, op: str, nth: int, *, transient: bool = False, after: bool = False, prefix: str = ""
    ) -> FaultyStorage:
        """Fail the ``nth`` call of ``op`` (``after``: perform it, then fail)."""
        kind = "error-after" if after else "error"
        return self.add(FaultRule(op, kind, nth=nth, transient=transient, prefix=prefix))

    def fail_randomly(
        self,
        op: str,
        probability: float,
        *,
        transient: bool = True,
        after: bool = False,
        prefix: str = "",
        limit: int | None = None,
    ) -> FaultyStorage:
        """Fail each call of ``op`` (``*`` = any) with ``probability``."""
        kind = "error-after" if after else "error"
        rule = FaultRule(op, kind, probability=probability, transient=transient, prefix=prefix)
        rule.limit = limit
        return self.add(rule)

    def flip_bit(self, *, nth: int | None = None, probability: float = 0.0, prefix: str = "") -> FaultyStorage:
        """Flip one (deterministically chosen) bit in what a read returns."""
        return self.add(FaultRule("read", "flip", nth=nth, probability=probability, prefix=prefix))

    def cut_short(self, *, nth: int | None = None, probability: float = 0.0, prefix: str = "") -> FaultyStorage:
        """Return only a prefix of what a read would return (a truncated transfer)."""
        rule = FaultRule("read", "truncate", nth=nth, probability=probability, prefix=prefix)
        return self.add(rule)

    def die_mid_write(self, nth: int, *, leave_partial: bool = False, prefix: str = "") -> FaultyStorage:
        """Raise :class:`SimulatedCrash` instead of the ``nth`` write."""
        rule = FaultRule("write", "die", nth=nth, prefix=prefix, leave_partial=leave_partial)
        return self.add(rule)

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    # -- decision --------------------------------------------------------

    def _decide(self, op: str, name: str) -> list[FaultRule]:
        with self._lock:
            self.calls[op] += 1
            firing: list[FaultRule] = []
            for index, rule in enumerate(self.rules):
                if rule.op not in (op, "*") or not name.startswith(rule.prefix):
                    continue
                if rule.limit is not None and rule.fired >= rule.limit:
                    continue
                rule.seen += 1
                self._per_name[(index, op, name)] += 1
                if rule.nth is not None:
                    hit = rule.seen == rule.nth
                else:
                    hit = self._chance(index, op, name) < rule.probability
                if hit:
                    rule.fired += 1
                    self.injected.append((op, name, rule.kind))
                    firing.append(rule)
            return firing

    def _chance(self, index: int, op: str, name: str) -> float:
        count = self._per_name[(index, op, name)]
        key = f"{self.seed}:{index}:{op}:{name}:{count}".encode()
        return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big") / 2**64

    def _bit(self, name: str, size: int) -> int:
        key = f"{self.seed}:bit:{name}:{size}".encode()
        return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big") % (size * 8)

    @staticmethod
    def _raise_before(rules: list[FaultRule], op: str, name: str) -> None:
        for rule in rules:
            if rule.kind == "error":
                raise StorageError(f"injected fault: {op} {name}", transient=rule.transient)

    @staticmethod
    def _raise_after(rules: list[FaultRule], op: str, name: str) -> None:
        for rule in rules:
            if rule.kind == "error-after":
                detail = f"injected fault after {op} {name} (reply lost)"
                raise StorageError(detail, transient=rule.transient)

    # -- the interface ---------------------------------------------------

    def create(self) -> None:
        rules = self._decide("create", "")
        self._raise_before(rules, "create", "")
        self.inner.create()
        self._raise_after(rules, "create", "")

    def stat(self, name: str) -> ObjectInfo:
        rules = self._decide("stat", name)
        self._raise_before(rules, "stat", name)
        info = self.inner.stat(name)
        self._raise_after(rules, "stat", name)
        return info

    def read(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        rules = self._decide("read", name)
        self._raise_before(rules, "read", name)
        data = self.inner.read(name, offset, length)
        self._raise_after(rules, "read", name)
        for rule in rules:
            if rule.kind == "flip" and data:
                bit = self._bit(name, len(data))
                damaged = bytearray(data)
                damaged[bit // 8] ^= 1 << (bit % 8)
                data = bytes(damaged)
            elif rule.kind == "truncate" and data:
                data = data[: len(data) // 2]
        return data

    def write(self, name: str, data: Buffer, *, exclusive: bool = False) -> None:
        rules = self._decide("write", check_name(name))
        self._raise_before(rules, "write", name)
        for rule in rules:
            if rule.kind == "die":
                if rule.leave_partial:
                    self._leave_partial(name, data)
                raise SimulatedCrash(f"simulated crash while writing {name}")
        self.inner.write(name, data, exclusive=exclusive)
        self._raise_after(rules, "write", name)

    def _open_append(self, prefix: str) -> _FaultyAppend:
        """The inner backend's append file; its ``commit`` is a ``write`` of the final name to the rules.

        Offered as ``open_append`` only when the inner backend has one (see
        ``__init__``), so the repository takes the same path with and
        without this wrapper.
        """
        return _FaultyAppend(self, self.inner.open_append(prefix))  # type: ignore[attr-defined]

    def _leave_partial(self, name: str, data: Buffer) -> None:
        """Leave what a writer killed mid-write leaves: on a local disk, a half temp file.

        Other backends never expose an unfinished upload, so nothing visible remains.
        """
        if isinstance(self.inner, LocalStorage):
            path = self.inner.root.joinpath(*name.split("/"))
            os.makedirs(path.parent, exist_ok=True)
            tmp = path.with_name(f"{TEMP_PREFIX}{path.name}.{secrets.token_hex(6)}")
            tmp.write_bytes(data[: len(data) // 2])

    def delete(self, name: str) -> None:
        rules = self._decide("delete", name)
        self._raise_before(rules, "delete", name)
        self.inner.delete(name)
        self._raise_after(rules, "delete", name)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        rules = self._decide("list", prefix)
        self._raise_before(rules, "list", prefix)
        items = list(self.inner.list(prefix))
        self._raise_after(rules, "list", prefix)
        return iter(items)

    def close(self) -> None:
        self.inner.close()


class _FaultyAppend:
    """An append file whose publication (``commit``) meets the wrapper's ``write`` rules."""

    def __init__(self, owner: FaultyStorage, inner: Any) -> None:
        self._owner = owner
        self._inner = inner

    def pwrite(self, data: Buffer, offset: int) -> None:
        self._inner.pwrite(data, offset)

    def read(self, offset: int, length: int) -> bytes:
        data: bytes = self._inner.read(offset, length)
        return data

    def commit(self, name: str) -> None:
        owner = self._owner
        rules = owner._decide("write", check_name(name))
        try:
            owner._raise_before(rules, "write", name)
        except StorageError:
            self._inner.abort()
            raise
        for rule in rules:
            if rule.kind == "die":
                if not rule.leave_partial:
                    self._inner.abort()
                raise SimulatedCrash(f"simulated crash while writing {name}")
        self._inner.commit(name)
        owner._raise_after(rules, "write", name)

    def abort(self) -> None:
        self._inner.abort()
