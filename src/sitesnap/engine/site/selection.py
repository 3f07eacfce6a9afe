"""Choosing what a site command works on: its sources and its snapshot."""

from __future__ import annotations

from datetime import UTC, datetime

from sitesnap.config import AnySource, SiteConfig
from sitesnap.engine.site.attime import PointInTime
from sitesnap.errors import SnapshotNotFound, UsageError
from sitesnap.format.snapshot import Snapshot
from sitesnap.repository.repository import Repository

__all__ = ["parse_point", "parse_when", "select_snapshot", "selected_sources"]


def selected_sources(cfg: SiteConfig, names: list[str] | None) -> list[AnySource]:
    """The named sources of the site (all of them when ``names`` is empty), in the order given."""
    if not names:
        return list(cfg.sources)
    return [cfg.source(n) for n in names]


def parse_when(text: str) -> datetime:
    """'2026-11-20 14:00' (local time), ISO 8601 with fractional seconds and an offset or Z, or 'now'."""
    if text.strip().lower() == "now":
        return datetime.now(UTC)
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"--at: cannot read {text!r}",
                         hint="Use e.g. '2026-11-20 14:00' (local time), '2026-12-04T13:38:27.5+00:00' or 'now'.",
                         ) from None
    if when.tzinfo is None:
        when = when.astimezone()  # local time zone
    return when


def parse_point(text: str) -> PointInTime:
    """TIME of ``restore --at``; ``now`` means the newest state the repository holds."""
    return PointInTime(parse_when(text), latest=text.strip().lower() == "now")


def select_snapshot(repo: Repository, site: str, ref: str | None, at: str | None) -> Snapshot:
    """``latest`` / an ID for this site, or the newest at or before ``at``.

    ``latest`` and ``--at`` skip ``pre-restore`` safety snapshots: after a
    restore, "latest" still means the latest backup.  Name a safety snapshot
    by its ID to undo a restore.
    """
    snaps = [
        s for s in repo.load_snapshots(on_error=lambda *_: None) if s.site == site and s.type != "pre-restore"
    ]
    if at is not None:
        when = parse_when(at)
        eligible = [s for s in snaps if s.time <= when]
        if not eligible:
            raise SnapshotNotFound(f"site {site!r} at or before {when.isoformat()}",
                                   hint="The oldest snapshot is newer; list them with 'sitesnap snapshots'.")
        return eligible[-1]
    if ref is None or ref == "latest":
        if not snaps:
            raise SnapshotNotFound(f"site {site!r}", hint="No snapshot of this site yet: run 'sitesnap backup'.")
        return snaps[-1]
    snap = repo.find_snapshot(ref)
    if snap.site != site:
        raise UsageError(f"snapshot {snap.short_id} belongs to {snap.site or 'no site'!r}, not {site!r}")
    return snap
