"""What a site can be restored to, per source: the console's time picker and ``GET /api/v1/backup/timeline``.

A continuous source is restorable anywhere inside the windows of its
log-stream generations (docs/continuous.md); every source is restorable
to the times of the snapshots that hold it.  :func:`site_timeline` puts
both side by side; :func:`plan_times` tells, for a restore plan made for
a chosen time, how far each source's restored state is from that time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sitesnap.config import SiteConfig
from sitesnap.engine.replay import source_timelines, to_datetime
from sitesnap.repository.repository import Repository

__all__ = ["plan_times", "site_timeline"]


def _iso(time_ns: int) -> str:
    return to_datetime(time_ns).isoformat()


def _windows(timeline: Any) -> list[dict[str, Any]]:
    if timeline is None:
        return []
    return [{"start": _iso(g.oldest_ns), "end": _iso(g.newest_ns), "generation": g.generation.hex(),
             "segments": 1 + len(g.chain)} for g in timeline.generations]


def site_timeline(repo: Repository, cfg: SiteConfig, now: datetime | None = None) -> dict[str, Any]:
    """Per configured source: restorable windows (continuous sources) and snapshot times, oldest first.

    Reads the repository's snapshot list and log segments (the index must be
    loaded); ``errors`` lists segments that could not be read.  Pre-restore
    safety snapshots are left out, as ``restore --at`` leaves them out.
    """
    errors: list[str] = []
    timelines = source_timelines(repo, errors)
    snaps = sorted((s for s in repo.load_snapshots(on_error=lambda *_: None)
                    if s.site == cfg.site.name and s.type != "pre-restore"), key=lambda s: s.time)
    sources = []
    for src in cfg.sources:
        held = [s for s in snaps if any(d.get("name") == src.name for d in s.sources)]
        timeline = timelines.get(src.name)
        sources.append({
            "name": src.name, "type": src.type, "continuous": bool(getattr(src, "continuous", False)),
            "windows": _windows(timeline),
            "gaps": [] if timeline is None else [{"start": _iso(a), "end": _iso(b)} for a, b in timeline.gaps()],
            "snapshots": [{"id": s.id, "time": s.time.isoformat()} for s in held],
        })
    return {"site": cfg.site.name, "generated_at": (now or datetime.now(UTC)).isoformat(), "sources": sources,
            "snapshots": [{"id": s.id, "time": s.time.isoformat(), "type": s.type} for s in snaps],
            "errors": errors}


def plan_times(plan: dict[str, Any], at: datetime | None) -> dict[str, Any]:
    """``plan`` (``RestorePlan.to_json()``) with each item's ``time`` and ``distance_seconds`` from ``at``.

    An item's time is the state it restores: its own ``state_time`` when the
    plan gives one (a source replayed to a moment), else the snapshot's time.
    ``distance_seconds`` is ``at`` minus that time (>= 0 for a snapshot at or
    before ``at``); null without ``at``.
    """
    items = []
    for item in plan.get("items", []):
        when = datetime.fromisoformat(item.get("state_time") or plan["snapshot_time"])
        distance = None if at is None else (at - when).total_seconds()
        items.append({**item, "time": when.isoformat(), "distance_seconds": distance})
    return {**plan, "at": None if at is None else at.isoformat(), "items": items}
