"""The one interface every source kind implements, whatever it backs up.

A source kind is a class registered under a config ``type`` (see
:mod:`sitesnap.sources.registry`).  The engine opens an instance per
configured source and asks it, never the type string, what to do:

- where the source lives in the snapshot tree (``section``, :meth:`SourceKind.entry`);
- where it comes from, for the snapshot's record (:meth:`SourceKind.origin`);
- whether it can be read now (:meth:`SourceKind.check_available`);
- how a restore target given by the user is spelled (:meth:`SourceKind.resolve_target`)
  and shown (:meth:`SourceKind.public_target`).

There are two shapes, because the snapshot format has two: a
:class:`TreeSource` is a directory tree that the engine's archiver walks and
its restorer writes back; a :class:`StreamSource` is one byte stream (a
database dump) that the source itself produces and restores, verifies and
drops.  New kinds (continuous capture of a WAL or binlog, say) subclass
one of them.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, ClassVar, Protocol, Self

from sitesnap.errors import ConfigError, IntegrityError, SourceError
from sitesnap.progress import NULL_SINK, ProgressSink
from sitesnap.sources.db import DumpInfo, DumpInfoFuture, RestoreReport, TargetState

if TYPE_CHECKING:
    from sitesnap.sources.dumprows import RowReader
    from sitesnap.sources.files import Excluder

__all__ = [
    "SourceKind",
    "SourceSpec",
    "StreamSource",
    "TreeSource",
    "Verification",
    "absolute",
    "compare_counts",
    "spec_field",
]


class SourceSpec(Protocol):
    """What a kind needs of a configured source: its name and type; the rest it reads itself."""

    @property
    def name(self) -> str: ...

    @property
    def type(self) -> str: ...


def spec_field(spec: SourceSpec, key: str) -> Any:
    """The config field ``key`` of ``spec``; :class:`ConfigError` when the kind's config lacks it."""
    value = getattr(spec, key, None)
    if value is None:
        raise ConfigError(f"source {spec.name!r}: a {spec.type} source needs a {key}")
    return value


class SourceKind(ABC):
    """Behaviour shared by every source kind.  ``type`` is the config type it is registered for."""

    type: ClassVar[str]
    section: ClassVar[str]  # the top-level directory of the snapshot tree it lives in
    name: str

    @classmethod
    @abstractmethod
    def from_config(cls, spec: SourceSpec) -> SourceKind:
        """Open the configured source ``spec`` (secrets resolved here, never logged)."""

    @abstractmethod
    def entry(self) -> str:
        """The source's name inside :attr:`section` (``uploads``, ``main.pg.sql``)."""

    @abstractmethod
    def origin(self) -> str:
        """Where the data comes from, without credentials: a path or a redacted URL."""

    def tree_path(self) -> str:
        """The source's absolute path in a snapshot's tree (docs/format/v1.md §8)."""
        return f"/{self.section}/{self.entry()}"

    def check_available(self) -> None:
        """Raise :class:`SourceError` when the source cannot be backed up at all (default: always can)."""
        return

    def resolve_target(self, target: str) -> str:
        """A restore target as given by the user, in the form the restore takes (default: as is)."""
        return target

    def public_target(self, target: str) -> str:
        """``target`` as shown in plans and reports: no credentials (default: as is)."""
        return target


class TreeSource(SourceKind):
    """A directory tree: the engine archives and restores it; the kind says where and what to skip."""

    path: Path
    exclude: list[str]

    def check_available(self) -> None:
        if not self.path.exists():
            raise SourceError(f"source {self.name!r}: {self.path} does not exist")

    def entry(self) -> str:
        return self.name

    def origin(self) -> str:
        return str(self.path)

    @abstractmethod
    def excluder(self) -> Excluder:
        """A fresh matcher for what the walk skips (and an in-place restore keeps)."""


@dataclass
class Verification:
    """What a verification of a restored database found (for drill reports)."""

    tables: dict[str, int]
    stats: dict[str, Any] = field(default_factory=dict)
    detail: str = ""


def compare_counts(got: dict[str, int], want: dict[str, int]) -> None:
    """Raise :class:`IntegrityError` naming up to five tables whose row counts differ."""
    if got == want:
        return
    diffs = [f"{t}: {got.get(t, 'missing')} != {want.get(t, 'missing')}"
             for t in sorted(set(got) | set(want)) if got.get(t) != want.get(t)]
    raise IntegrityError(f"row counts differ from the snapshot's record: {'; '.join(diffs[:5])}")


class StreamSource(SourceKind):
    """A database dumped as one stream and restored from one (see :mod:`sitesnap.sources.db`).

    ``restores_damaged`` says whether a target that cannot even be inspected
    (a corrupt SQLite file) is still a valid restore target: the damaged copy
    is then set aside by :meth:`set_aside` instead of failing the plan.
    """

    section: ClassVar[str] = "db"
    extension: ClassVar[str]
    location: ClassVar[str] = "url"  # what the constructor's first argument is: "url" or "path"
    restores_damaged: ClassVar[bool] = False

    @classmethod
    def open_at(cls, where: str, *, name: str = "", **options: Any) -> Self:
        """The source at ``where`` (its :attr:`location`), with constructor ``options``."""
        factory: Callable[..., Self] = cls
        return factory(where, name=name, **options)

    def entry(self) -> str:
        return f"{self.name}.{self.extension}"

    @abstractmethod
    def dump(self) -> AbstractContextManager[tuple[BinaryIO, DumpInfoFuture]]:
        """A consistent dump as a stream and the future of its :class:`DumpInfo`."""

    @abstractmethod
    def inspect(self, target: str | None = None) -> TargetState:
        """The restore target as it is now (default target: this database)."""

    @abstractmethod
    def restore(self, stream: BinaryIO, info: DumpInfo, target: str | None = None,
                progress: ProgressSink = NULL_SINK) -> RestoreReport:
        """Load, verify, then swap into ``target``; a failure leaves the target as it was."""

    @abstractmethod
    def scratch_target(self, scratch: Path, rename: Callable[[str], str]) -> str:
        """A restore target nothing else uses: below ``scratch``, or ``rename(database)`` on the same server."""

    @abstractmethod
    def drop(self, target: str) -> None:
        """Remove a scratch target made by :meth:`scratch_target` (idempotent)."""

    @classmethod
    def row_reader(cls, open_copy: Callable[[], BinaryIO], workdir: Path) -> RowReader:
        """The tables and rows of a stored copy, for ``diff --source``; ``open_copy`` opens it anew each call.

        ``workdir`` is a private temporary directory the reader may use while
        the diff runs (a SQLite copy is restored there to be queried).
        """
        raise SourceError(f"a {cls.type} source cannot be diffed row by row")

    def set_aside(self, target: str) -> str:
        """Move a damaged ``target`` out of the way; returns where it went (only if ``restores_damaged``)."""
        raise SourceError(f"source {self.name!r}: a damaged {self.type} target cannot be set aside")

    def verify(self, target: str, info: DumpInfo, report: RestoreReport) -> Verification:
        """Check a restored ``target`` against the snapshot's record; :class:`IntegrityError` if not."""
        tables = self.inspect(target).tables
        compare_counts(tables, info.tables)
        return Verification(tables, {"tables": tables, "bytes_read": report.bytes_read},
                            f"{len(tables)} tables, {sum(tables.values())} rows as recorded")


def absolute(path: str | os.PathLike[str]) -> str:
    """``path`` with ``~`` expanded, made absolute (not resolved: symlinks stay as given)."""
    return str(Path(path).expanduser().absolute())
