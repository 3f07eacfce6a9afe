"""Capture progress in the catalog: what the capture loop reports, what status and metrics read.

The capture loop (``engine/continuous.py``) knows after every shipped
segment which source, generation and newest commit time it reached; the
engine cannot import the runtime, so whoever runs the loop passes it
:func:`capture_reporter`'s callback::

    on_segment = capture_reporter(catalog, site)
    on_segment(source, generation_hex, newest_commit_ns, segments)   # after each shipped segment
    on_segment(source, "", None, 0)                                  # "alive, nothing new"
    on_segment(source, generation_hex, newest_ns, 0, oldest_ns)      # at start: the window it resumed

Status, ``/metrics`` and the ``capture_lag`` rule then read
:func:`capture_states` from the catalog and never wait on storage.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy.exc import SQLAlchemyError

from sitesnap.catalog import CaptureInfo, Catalog
from sitesnap.config import SiteConfig
from sitesnap.errors import SitesnapError
from sitesnap.runtime.alerts.model import CaptureState

__all__ = ["CaptureReporter", "capture_reporter", "capture_states", "continuous_source_names", "from_ns",
           "report_capture"]

_log = logging.getLogger(__name__)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

class CaptureReporter(Protocol):
    """What the capture loop calls: after each shipped segment, or with none to say it is alive.

    ``segments`` counts those shipped since the previous call; ``oldest_ns``,
    when the loop knows it (from the timeline it resumed), is the oldest
    restorable time of the source, replacing the one on record.
    """

    def __call__(self, source: str, generation: str, newest_commit_ns: int | None, segments: int,
                 oldest_ns: int | None = None) -> None: ...


def from_ns(time_ns: int) -> datetime:
    """A wall-clock nanosecond time as an aware UTC datetime (to the microsecond)."""
    return _EPOCH + timedelta(microseconds=time_ns // 1000)


def report_capture(catalog: Catalog, site: str, source: str, *, generation: str = "",
                   newest_commit_ns: int | None = None, segments: int = 0, oldest_ns: int | None = None,
                   at: datetime | None = None) -> CaptureInfo:
    """Record that ``source``'s capture shipped ``segments`` more, up to ``newest_commit_ns``; idempotent for 0."""
    return catalog.record_capture(
        site, source, generation=generation, segments=segments, at=at,
        shipped_at=None if newest_commit_ns is None else from_ns(newest_commit_ns),
        oldest_at=None if oldest_ns is None else from_ns(oldest_ns))


def capture_reporter(catalog: Catalog, site: str) -> CaptureReporter:
    """A callback for the capture loop; a catalog failure is logged, never raised into the capture."""

    def on_segment(source: str, generation: str, newest_commit_ns: int | None, segments: int,
                   oldest_ns: int | None = None) -> None:
        try:
            report_capture(catalog, site, source, generation=generation, newest_commit_ns=newest_commit_ns,
                           segments=segments, oldest_ns=oldest_ns)
        except (SitesnapError, SQLAlchemyError) as exc:
            _log.warning("capture progress of %s/%s not recorded: %s", site, source, exc)

    return on_segment


def continuous_source_names(cfg: SiteConfig) -> list[str]:
    """The site's sources with ``continuous = true``, in configuration order."""
    return [s.name for s in cfg.sources if getattr(s, "continuous", False)]


def capture_states(catalog: Catalog, cfg: SiteConfig) -> tuple[CaptureState, ...]:
    """One state per continuous source of ``cfg`` (empty for a source that never reported)."""
    rows = {c.source: c for c in catalog.list_captures(cfg.site.name)}
    out = []
    for name in continuous_source_names(cfg):
        row = rows.get(name)
        out.append(CaptureState(name) if row is None else CaptureState(
            name, row.last_shipped_at, row.reported_at, row.oldest_restorable_at, row.segments_total))
    return tuple(out)
