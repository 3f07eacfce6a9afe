"""Whole-site restore to one point in time (``restore --at TIME``).

Continuous sources come back as of TIME exactly: the log stream's state
after the last commit shipped at or before TIME (docs/continuous.md, "What
a restore to T gives").  Their kind's ``restore_at``
(``engine/continuous_kinds.py``) rebuilds that state in a private scratch
target; it is then loaded through the source's normal restore path, so the
pre-restore snapshot, the plan and the verification (integrity check, row
counts) are those of every restore.  Every other source comes from the
newest snapshot of the site at or before TIME.

TIME outside a continuous source's restorable window is refused with the
window in the message; no snapshot is silently substituted (restore that
source from a snapshot with ``restore SNAPSHOT --source NAME`` if that is
what is wanted).  ``now`` means the newest state the repository holds.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sitesnap.config import AnySource, SiteConfig
from sitesnap.engine.continuous_kinds import is_continuous, restore_at
from sitesnap.engine.replay import state_at, to_datetime
from sitesnap.errors import RestoreError, SnapshotNotFound, SourceError, UsageError
from sitesnap.format.snapshot import Snapshot
from sitesnap.progress import ProgressSink
from sitesnap.repository.logtimeline import SourceTimeline
from sitesnap.repository.repository import Repository
from sitesnap.sources.kind import StreamSource
from sitesnap.sources.registry import open_source

if TYPE_CHECKING:
    from sitesnap.engine.site.restore import RestoreItem

__all__ = ["PointInTime", "check_names", "continuous_names", "newest_snapshot_before", "plan_continuous_item",
           "require_snapshot", "restore_continuous"]


@dataclass(frozen=True)
class PointInTime:
    """TIME of ``restore --at``: an aware datetime, or the newest state the repository holds (``now``)."""

    when: datetime
    latest: bool = False

    def for_source(self, timeline: SourceTimeline | None) -> datetime:
        """The time to restore a continuous source to: TIME, or its newest shipped state for ``now``."""
        if self.latest and timeline is not None and timeline.newest_ns is not None:
            return min(self.when, to_datetime(timeline.newest_ns))
        return self.when


def newest_snapshot_before(repo: Repository, site: str, when: datetime) -> Snapshot | None:
    """The newest snapshot of ``site`` at or before ``when`` (``pre-restore`` snapshots aside)."""
    snaps = [s for s in repo.load_snapshots(on_error=lambda *_: None)
             if s.site == site and s.type != "pre-restore" and s.time <= when]
    return snaps[-1] if snaps else None


def plan_continuous_item(repo: Repository, src: AnySource, point: PointInTime, target: str | None,
                         timelines: dict[str, SourceTimeline]) -> RestoreItem:
    """The plan item of a continuous source restored to ``point``: its state time, what the target holds."""
    from sitesnap.engine.site.restore import RestoreItem

    kind = open_source(src)
    if not isinstance(kind, StreamSource):
        raise RestoreError(f"source {src.name!r}: a {kind.type} source cannot be restored to a point in time")
    at = point.for_source(timelines.get(src.name))
    state_ns = state_at(timelines.get(src.name), src.name, at)
    raw = kind.resolve_target(target) if target is not None else None
    item = RestoreItem(kind.name, kind.type, raw or kind.origin(), target is None, False, raw_target=raw or "")
    try:
        state = kind.inspect(raw)
        item.target, item.exists, item.before = kind.public_target(state.target), state.exists, dict(state.tables)
    except SourceError as exc:
        if not kind.restores_damaged:
            raise
        item.exists, item.damaged = True, exc.message
    item.continuous, item.at = True, at.isoformat()
    item.state_time = to_datetime(state_ns).isoformat()
    item.behind_seconds = round(max(0.0, (point.when - to_datetime(state_ns)).total_seconds()), 6)
    return item


def continuous_names(cfg: SiteConfig, names: list[str]) -> set[str]:
    """Which of ``names`` are continuous sources (restored from the log stream)."""
    return {n for n in names if is_continuous(cfg.source(n))}


def require_snapshot(snap: Snapshot | None, site: str, when: datetime, names: list[str]) -> Snapshot:
    """``snap``, or :class:`SnapshotNotFound` naming the sources that need one."""
    if snap is None:
        raise SnapshotNotFound(f"site {site!r} at or before {when.isoformat()} (for {', '.join(names)})",
                               hint="The oldest snapshot is newer; list them with 'sitesnap snapshots'.")
    return snap


def restore_continuous(repo: Repository, src: AnySource, item: RestoreItem, sink: ProgressSink) -> dict[str, Any]:
    """Rebuild ``src`` as of ``item.at`` in a scratch target, then load it through the source's restore."""
    kind = open_source(src)
    assert isinstance(kind, StreamSource)
    at = datetime.fromisoformat(item.at)
    with tempfile.TemporaryDirectory(prefix="sitesnap-at-") as tmp:
        scratch = kind.scratch_target(Path(tmp), lambda db: f"{db}_sitesnap_at")
        if kind.location == "path":
            Path(scratch).parent.mkdir(parents=True, exist_ok=True)
        try:
            rebuilt = restore_at(repo, src, at, scratch)
            with type(kind).open_at(scratch, name=kind.name).dump() as (stream, future):
                info = future.result()
                if item.damaged:
                    item.result["kept_damaged"] = kind.set_aside(item.target)
                target = None if item.in_place else (item.raw_target or kind.resolve_target(item.target))
                report = kind.restore(stream, info, target, sink)
        finally:
            kind.drop(scratch)
    if report.tables != info.tables:
        raise RestoreError(f"source {kind.name}: restored row counts differ from the rebuilt database")
    item.after = dict(info.tables)
    return {**item.result, **report.to_dict(), "state_time": to_datetime(rebuilt.state_ns).isoformat(),
            "commits_applied": rebuilt.commits, "generation": rebuilt.generation, "integrity": rebuilt.integrity}


def check_names(names: list[str], targets: dict[str, str]) -> None:
    """Every ``--to NAME=...`` must name a source being restored."""
    for name in targets:
        if name not in names:
            raise UsageError(f"--to {name}=...: {name!r} is not among the sources being restored")
