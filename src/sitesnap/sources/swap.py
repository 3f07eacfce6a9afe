"""Temp-load-verify-swap: how every database restore keeps the target safe, written once.

A restore never writes into the live database.  It creates a temporary
database (or file) beside the target, loads the dump into it, verifies it
against the snapshot's record, and only then swaps it in; the temporary one
is dropped afterwards, and also when any step fails, so a failed restore
leaves the target exactly as it was::

    with session():          # admin connection, client program chosen
        create_temp()
        load(stream)          -> bytes read          phase 1 ("load")
        verify_temp(info)     -> verified row counts  phase 2 ("verify")
        swap(tables)          -> SwapResult           phase 3 ("swap")
        drop_temp()           (also on failure, quietly)

Each database kind subclasses :class:`DatabaseRestore` for one restore and
provides those steps; this module owns their order, the progress phases, the
wrong-kind check and the report.
"""

from __future__ import annotations

import contextlib
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, ClassVar

from sitesnap.errors import RestoreError, SitesnapError
from sitesnap.progress import ProgressSink, Tracker
from sitesnap.sources.db import DumpInfo, RestoreReport

__all__ = ["DatabaseRestore", "SwapResult", "mismatch"]


@dataclass
class SwapResult:
    """How the verified copy replaced the target."""

    method: str  # "create" | "swap" | "rename" | "backup-api"
    created: bool  # the target did not exist before
    kept_old: str = ""  # the previous database, kept aside when asked


def mismatch(where: str, got: dict[str, int], want: dict[str, int]) -> str:
    """One line naming up to five tables whose restored row counts differ from the record."""
    diffs = [
        f"{t}: {got.get(t, 'missing')} != {want.get(t, 'missing')}"
        for t in sorted(set(got) | set(want))
        if got.get(t) != want.get(t)
    ]
    return f"restored {where} does not match the snapshot ({'; '.join(diffs[:5])})"


class DatabaseRestore(ABC):
    """One restore of a ``kind`` dump into the target named ``display``.  Single use.

    ``phases`` name the three progress phases (load, verify, swap) as the
    kind describes them.
    """

    kind: ClassVar[str]
    phases: ClassVar[tuple[str, str, str]] = ("load", "verify", "swap")

    def __init__(self, display: str, described: str | None = None) -> None:
        self.display = display
        self.described = described or display

    def run(self, stream: BinaryIO, info: DumpInfo, progress: ProgressSink) -> RestoreReport:
        """Restore ``stream`` (a dump described by ``info``); see the module docstring."""
        started = time.monotonic()
        if info.kind != self.kind:
            raise RestoreError(f"a {info.kind} dump cannot be restored into {self.described}")
        tracker = Tracker("restore", progress)
        load, verify, swap = self.phases
        with self.session(), self._temp():
            tracker.update(force=True, phase=load, current=self.display)
            read = self.load(stream, tracker)
            tracker.update(force=True, phase=verify)
            tables = self.verify_temp(info)
            tracker.update(force=True, phase=swap)
            result = self.swap(tables)
        tracker.finish(f"restored {self.display}")
        return RestoreReport(
            kind=self.kind,
            target=self.display,
            created=result.created,
            method=result.method,
            tables=tables,
            bytes_read=read,
            seconds=time.monotonic() - started,
            kept_old=result.kept_old,
        )

    @contextlib.contextmanager
    def _temp(self) -> Iterator[None]:
        """The temporary database, dropped on the way out (quietly when a step failed)."""
        self.create_temp()
        try:
            yield
        except BaseException:
            with contextlib.suppress(SitesnapError, OSError):
                self.drop_temp()
            raise
        self.drop_temp()

    def verify_temp(self, info: DumpInfo) -> dict[str, int]:
        """Row counts of the loaded copy; :class:`RestoreError` unless they equal the record."""
        tables = self.count_temp()
        if tables != info.tables:
            raise RestoreError(mismatch(self.display, tables, info.tables))
        return tables

    @abstractmethod
    def session(self) -> contextlib.AbstractContextManager[object]:
        """Connections and programs the steps share; closed when the restore ends."""

    @abstractmethod
    def create_temp(self) -> None:
        """Create the empty temporary database beside the target."""

    @abstractmethod
    def load(self, stream: BinaryIO, tracker: Tracker) -> int:
        """Load the dump into the temporary database; returns the bytes read."""

    @abstractmethod
    def count_temp(self) -> dict[str, int]:
        """Exact row count of every table of the temporary database."""

    @abstractmethod
    def swap(self, tables: dict[str, int]) -> SwapResult:
        """Put the verified temporary database in the target's place."""

    @abstractmethod
    def drop_temp(self) -> None:
        """Remove whatever is left of the temporary database (idempotent)."""
