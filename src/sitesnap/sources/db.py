"""What every database source hands to the engine, and how to open one.

A database source dumps a whole database as one byte stream (the engine
chunks, deduplicates and stores it) and restores such a stream into the same
or another place.  The stream comes with a :class:`DumpInfo` recorded in the
snapshot; its ``tables`` are the row counts *contained in the dump*, so a
restore can be verified against them exactly.

Usage by the engine::

    source = open_database_source("postgres", url="postgresql://postgres@127.0.0.1/blog")
    with source.dump() as (stream, future):
        store(stream)                      # read to EOF
    info = future.result()                 # complete once the stream hit EOF
    ...
    report = source.restore(stream, info)  # in place; or target="postgresql://.../copy"

Leaving ``dump()`` waits for the dump program and raises :class:`SourceError`
if it failed or the stream was not read to the end.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

from sitesnap.errors import ConfigError, SourceError
from sitesnap.progress import NULL_SINK, ProgressSink

if TYPE_CHECKING:
    from sitesnap.sources.kind import StreamSource

__all__ = [
    "DatabaseSource",
    "DumpInfo",
    "DumpInfoFuture",
    "RestoreReport",
    "TargetState",
    "open_database_source",
]

@dataclass
class DumpInfo:
    """What a dump contains; stored in the snapshot as JSON.

    ``tables`` maps each table (``schema.table`` for PostgreSQL) to the number
    of rows the dump holds for it.  ``database`` is a name, never a URL with
    credentials.
    """

    kind: str
    format: str
    server_version: str
    tool: str
    tool_version: str
    tables: dict[str, int]
    database: str
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DumpInfo:
        """Inverse of :meth:`to_dict`; unknown keys (from newer versions) are ignored."""
        try:
            return cls(
                kind=str(data["kind"]),
                format=str(data["format"]),
                server_version=str(data.get("server_version", "")),
                tool=str(data.get("tool", "")),
                tool_version=str(data.get("tool_version", "")),
                tables={str(k): int(v) for k, v in dict(data.get("tables", {})).items()},
                database=str(data.get("database", "")),
                warnings=[str(w) for w in data.get("warnings", [])],
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise SourceError(f"malformed dump record: {exc}") from exc


class DumpInfoFuture:
    """The :class:`DumpInfo` of a dump in progress.

    Complete once the dump stream has been read to its end (and the dump
    program succeeded); :meth:`result` before that raises :class:`SourceError`.
    Not thread-safe beyond one producer setting it and readers polling it.
    """

    def __init__(self) -> None:
        self._info: DumpInfo | None = None

    def set(self, info: DumpInfo) -> None:
        self._info = info

    def done(self) -> bool:
        return self._info is not None

    def result(self) -> DumpInfo:
        if self._info is None:
            raise SourceError("the dump is not complete: its stream was not read to the end")
        return self._info


@dataclass
class TargetState:
    """A restore target as it is now: for the restore plan's before/after view."""

    kind: str
    target: str  # a path or a URL without password
    exists: bool
    tables: dict[str, int] = field(default_factory=dict)
    size: int = 0  # bytes on disk, when cheaply known (0 otherwise)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RestoreReport:
    """What a restore did; ``tables`` are the verified row counts of the result."""

    kind: str
    target: str
    created: bool  # the target did not exist before
    method: str  # "rename" | "backup-api" | "swap" | "create"
    tables: dict[str, int]
    bytes_read: int
    seconds: float
    kept_old: str = ""  # name of the previous database kept aside, if asked
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class DatabaseSource(Protocol):
    """A database that can be dumped to a byte stream and restored from one."""

    kind: str

    def dump(self) -> AbstractContextManager[tuple[BinaryIO, DumpInfoFuture]]: ...

    def inspect(self, target: str | None = None) -> TargetState: ...

    def restore(
        self,
        stream: BinaryIO,
        info: DumpInfo,
        target: str | None = None,
        progress: ProgressSink = NULL_SINK,
    ) -> RestoreReport: ...


def open_database_source(
    kind: str,
    *,
    path: str | None = None,
    url: str | None = None,
    name: str = "",
    options: dict[str, Any] | None = None,
) -> StreamSource:
    """Open the database source of ``kind`` (``sqlite`` needs ``path``, the others ``url``).

    The kind is looked up in :mod:`sitesnap.sources.registry`.  ``options``
    are passed to the source's constructor as keywords (e.g.
    ``no_owner=True`` for PostgreSQL).  Raises :class:`ConfigError` for an
    unknown kind, a missing path/URL or a URL of the wrong scheme.
    """
    from sitesnap.sources.kind import StreamSource
    from sitesnap.sources.registry import find

    cls = find(kind)
    if cls is None or not issubclass(cls, StreamSource):
        raise ConfigError(f"source {name!r}: unknown database kind {kind!r}", hint="Use sqlite, postgres or mysql.")
    where = path if cls.location == "path" else url
    if not where:
        raise ConfigError(f"source {name!r}: a {cls.type} source needs a {cls.location}")
    return cls.open_at(where, name=name, **dict(options or {}))


def iter_stream(stream: BinaryIO, size: int = 1 << 20) -> Iterator[bytes]:
    """Read ``stream`` in blocks of at most ``size`` bytes until EOF."""
    while True:
        block = stream.read(size)
        if not block:
            return
        yield block
