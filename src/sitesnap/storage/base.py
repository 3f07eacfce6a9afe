"""The storage interface every backend implements.

A backend is a flat key/value store of immutable objects.  Names are relative,
``/``-separated keys such as ``config``, ``keys/<id>`` or ``data/ab/<id>``; the
repository layer owns the layout, backends only store bytes.  Seven methods and
a ``properties`` attribute, nothing more: retries, bandwidth limits,
append-only enforcement and fault injection are wrappers (see ``wrappers``),
so every backend stays small and the conformance suite in
``tests/storage/conformance.py`` holds them all to one contract.

Contract, per method:

- ``create()``: make the location usable (mkdir, check the bucket).  Idempotent.
- ``stat(name)``: size of one object; raises :class:`~sitesnap.errors.ObjectNotFound`.
- ``read(name, offset=0, length=None)``: bytes of the object or of one range;
  raises ``ObjectNotFound``; a range past the end returns what exists (possibly
  ``b""``), like a file read.
- ``write(name, data, exclusive=False)``: all or nothing: a reader sees either no
  object or the whole of ``data``, even if the process dies mid-write.  With
  ``exclusive=True`` it raises :class:`~sitesnap.errors.ObjectExists` if the name
  is taken (used for locks and keys); otherwise an existing object is replaced.
- ``delete(name)``: idempotent: deleting a missing object is not an error.
- ``list(prefix)``: every object whose name starts with ``prefix``, any order.
- ``close()``: release connections; idempotent.

Backends are safe to call from several threads at once.  Every failure is a
:class:`~sitesnap.errors.StorageError` subclass; ``transient=True`` on the
exception marks errors worth retrying (timeouts, 5xx, dropped connections).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

__all__ = ["Buffer", "ObjectInfo", "Storage", "StorageProperties", "check_name"]

# What ``write`` accepts: packs are written straight from the bytearray they were built in.
Buffer = bytes | bytearray | memoryview


@dataclass(frozen=True)
class ObjectInfo:
    name: str
    size: int


@dataclass(frozen=True)
class StorageProperties:
    """What callers may want to know about a backend.

    ``url`` never contains credentials.  ``append_only`` is true when the
    credentials in use cannot delete or overwrite (the repository refuses
    forget/prune early instead of failing half-way).  ``free_space`` is a
    callable-free snapshot: ``None`` when the backend cannot tell.
    """

    kind: str
    url: str
    append_only: bool = False
    object_lock: bool = False
    extra: dict[str, str] = field(default_factory=dict)


@runtime_checkable
class Storage(Protocol):
    properties: StorageProperties

    def create(self) -> None: ...

    def stat(self, name: str) -> ObjectInfo: ...

    def read(self, name: str, offset: int = 0, length: int | None = None) -> bytes: ...

    def write(self, name: str, data: Buffer, *, exclusive: bool = False) -> None: ...

    def delete(self, name: str) -> None: ...

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]: ...

    def close(self) -> None: ...


def check_name(name: str) -> str:
    """Reject names that could escape a backend's root (``..``, absolute, empty parts).

    Backends call this on every name they are given, so a corrupted index or a
    hostile snapshot cannot make the storage layer touch files outside the
    repository.
    """
    if not name or name.startswith("/") or "\\" in name or "\x00" in name:
        raise ValueError(f"invalid object name {name!r}")
    parts = name.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"invalid object name {name!r}")
    return name
