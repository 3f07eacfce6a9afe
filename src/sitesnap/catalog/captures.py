"""Capture progress: the newest report of each continuous source's capture.

A capture reports after every shipped segment (and may report with no new
segment, to say it is alive).  One row per (site, source) is upserted:
``segments_total`` adds up, ``last_shipped_at`` never moves backwards (a
second capture process, or a clock step, cannot make the lag look smaller
than it is), ``oldest_restorable_at`` is replaced when the report knows it
and otherwise kept (or started at the first shipped time).  Readers —
``status``, ``/metrics``, the alert rules — never touch storage.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError as DBIntegrityError

from sitesnap.catalog.models import CaptureProgress
from sitesnap.catalog.store import Store
from sitesnap.catalog.views import _View, from_row
from sitesnap.errors import CatalogError

__all__ = ["CaptureBook", "CaptureInfo"]


@dataclass(frozen=True)
class CaptureInfo(_View):
    """One source's capture as last reported."""

    site: str
    source: str
    generation: str
    last_shipped_at: datetime | None
    oldest_restorable_at: datetime | None
    segments_total: int
    reported_at: datetime


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else max(a, b)


class CaptureBook(Store):
    """Capture progress rows (see the module docstring)."""

    def record_capture(self, site: str, source: str, *, generation: str = "", shipped_at: datetime | None = None,
                       segments: int = 0, oldest_at: datetime | None = None,
                       at: datetime | None = None) -> CaptureInfo:
        """Upsert the capture report of ``source``; ``segments`` are those shipped since the last report."""
        if segments < 0:
            raise ValueError("segments shipped cannot be negative")
        now = at or self._clock()
        for _attempt in range(2):  # a first insert may race another reporter's: then update its row
            try:
                with self._write() as session:
                    row = session.scalar(select(CaptureProgress).where(
                        CaptureProgress.site == site, CaptureProgress.source == source))
                    if row is None:
                        row = CaptureProgress(site=site, source=source, generation="", segments_total=0,
                                              last_shipped_at=None, oldest_restorable_at=None)
                        session.add(row)
                    row.generation = generation or row.generation
                    row.last_shipped_at = _later(row.last_shipped_at, shipped_at)
                    row.oldest_restorable_at = oldest_at or row.oldest_restorable_at or shipped_at
                    row.segments_total = (row.segments_total or 0) + segments
                    row.reported_at = now
                return from_row(CaptureInfo, row)
            except DBIntegrityError:
                continue
        raise CatalogError(f"capture progress of {site}/{source} could not be stored")

    def list_captures(self, site: str) -> list[CaptureInfo]:
        """Every source of ``site`` that ever reported, by source name."""
        with self._read() as session:
            rows = session.scalars(select(CaptureProgress).where(CaptureProgress.site == site)
                                   .order_by(CaptureProgress.source)).all()
        return [from_row(CaptureInfo, r) for r in rows]
