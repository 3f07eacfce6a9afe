"""Site restore: plan what a restore of chosen sources will do, then run exactly that plan.

``plan_site_restore()`` inspects every target (what exists, its row counts
or files) without changing anything; ``RestorePlan.execute()`` takes a
``pre-restore`` snapshot of the live data it overwrites (the source's own
place, or another target that already holds data: see
:mod:`sitesnap.engine.site.livedata`), then restores each
source: trees through :mod:`sitesnap.engine.site.filetree`, database dumps
through the source kind's own temp-load-verify-swap restore.
``plan_site_restore_at()`` plans a restore of the whole site to one point
in time (continuous sources replayed to it: :mod:`.attime`), and
``plan_restore()`` is the one entry the CLI and the jobs call.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sitesnap.config import SiteConfig
from sitesnap.engine.blobstream import BlobReader
from sitesnap.engine.browse import find_node
from sitesnap.engine.replay import source_timelines
from sitesnap.engine.site.attime import (
    PointInTime,
    check_names,
    continuous_names,
    newest_snapshot_before,
    plan_continuous_item,
    require_snapshot,
    restore_continuous,
)
from sitesnap.engine.site.backup import backup_site
from sitesnap.engine.site.filetree import plan_tree, restore_tree
from sitesnap.engine.site.livedata import aimed_at, occupied_path, target_tags
from sitesnap.engine.site.selection import parse_point, select_snapshot
from sitesnap.errors import RestoreError, SourceError, UsageError
from sitesnap.format.snapshot import Snapshot
from sitesnap.format.tree import Node
from sitesnap.progress import NULL_SINK, ProgressSink, Tracker
from sitesnap.repository.repository import Repository
from sitesnap.sources.db import DumpInfo
from sitesnap.sources.kind import SourceKind, StreamSource, TreeSource
from sitesnap.sources.registry import open_source

__all__ = ["RestoreItem", "RestorePlan", "plan_restore", "plan_site_restore", "plan_site_restore_at"]


@dataclass
class RestoreItem:
    source: str
    kind: str
    target: str
    in_place: bool
    exists: bool
    before: dict[str, int] = field(default_factory=dict)
    after: dict[str, int] = field(default_factory=dict)
    overwrite: int = 0
    unchanged: int = 0
    create: int = 0
    delete: int = 0
    size: int = 0
    damaged: str = ""
    result: dict[str, Any] = field(default_factory=dict)
    continuous: bool = False  # rebuilt from the log stream, not from the snapshot
    at: str = ""  # the time a continuous source is rebuilt to (ISO 8601)
    state_time: str = ""  # when the restored state was current (snapshot time, or last commit replayed)
    behind_seconds: float | None = None  # how far state_time is before the requested time
    raw_target: str = field(default="", repr=False)  # the target as given, credentials included; never shown
    occupied: bool = False  # another target (not the source's place) that already holds data

    @property
    def live(self) -> bool:
        """Restoring overwrites data that exists now: the source's own place, or an occupied other target."""
        return self.exists and (self.in_place or self.occupied)

    def to_json(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "raw_target"}
        out["overwrites_live_data"] = self.live
        return out


@dataclass
class RestorePlan:
    repo: Repository
    cfg: SiteConfig
    snapshot: Snapshot | None  # None when every source is rebuilt from the log stream
    items: list[RestoreItem]
    safety_snapshot: str | None = None
    at: str | None = None  # the requested point in time of ``restore --at``

    @property
    def overwrites_live_data(self) -> bool:
        return any(i.live for i in self.items)

    def to_json(self) -> dict[str, Any]:
        return {
            "snapshot_id": self.snapshot.id if self.snapshot else None,
            "snapshot_time": self.snapshot.time.isoformat() if self.snapshot else None,
            "at": self.at,
            "site": self.cfg.site.name,
            "overwrites_live_data": self.overwrites_live_data,
            "items": [i.to_json() for i in self.items],
            "safety_snapshot": self.safety_snapshot,
        }

    def execute(
        self,
        *,
        safety: bool = True,
        sink: ProgressSink = NULL_SINK,
        on_step: Callable[[str], None] = lambda _m: None,
    ) -> RestorePlan:
        """Run the plan: pre-restore snapshot of what is overwritten, then each source, verified."""
        live = [i for i in self.items if i.live and not i.damaged]
        if safety and live:
            on_step(f"taking a pre-restore snapshot of {', '.join(i.target for i in live)}")
            pre = backup_site(self.repo, aimed_at(self.cfg, live), snapshot_type="pre-restore",
                              tags=["pre-restore", f"before-{self._label()}", *target_tags(live)],
                              sources=[i.source for i in live])
            self.safety_snapshot = pre.snapshot.id
        tracker = Tracker("restore", sink)
        tracker.update(bytes_total=sum(i.size for i in self.items), force=True)
        with self.repo.lock(operation=f"restore {self.cfg.site.name}"):
            for item in self.items:
                on_step(f"restoring {item.source} to {item.target}")
                tracker.update(phase=item.source, force=True)
                self._restore_item(item, tracker, sink)
        tracker.finish()
        return self

    def _label(self) -> str:
        return self.snapshot.short_id if self.snapshot is not None else f"at-{self.at}"

    def _restore_item(self, item: RestoreItem, tracker: Tracker, sink: ProgressSink) -> None:
        src = self.cfg.source(item.source)
        if item.continuous:
            item.result = restore_continuous(self.repo, src, item, sink)
            return
        assert self.snapshot is not None
        kind = open_source(src)
        node = find_node(self.repo, self.snapshot.tree, kind.tree_path())
        if isinstance(kind, TreeSource):
            item.result = restore_tree(self.repo, node, item.source, Path(item.target), item.exists,
                                       tracker, kind.excluder())
        elif isinstance(kind, StreamSource):
            item.result = _restore_stream(self.repo, self.snapshot, kind, node, item, sink)


def _db_info(snapshot: Snapshot, name: str) -> DumpInfo:
    for rec in snapshot.sources:
        if rec.get("name") == name:
            return DumpInfo.from_dict(rec)
    raise RestoreError(f"snapshot {snapshot.short_id} has no record of source {name!r}")


def plan_site_restore(
    repo: Repository,
    cfg: SiteConfig,
    snapshot: Snapshot,
    sources: list[str] | None = None,
    targets: dict[str, str] | None = None,
) -> RestorePlan:
    """What restoring ``sources`` (default: all the snapshot holds) to ``targets`` would do; changes nothing."""
    targets = dict(targets or {})
    recorded = {r.get("name") for r in snapshot.sources}
    names = sources or [s.name for s in cfg.sources if s.name in recorded]
    for name in list(targets):
        if name not in names:
            raise UsageError(f"--to {name}=...: {name!r} is not among the sources being restored")
    items: list[RestoreItem] = []
    for name in names:
        src = cfg.source(name)
        if name not in recorded:
            raise UsageError(f"snapshot {snapshot.short_id} does not contain source {name!r}")
        items.append(_plan_item(repo, snapshot, open_source(src), targets.get(name)))
    return RestorePlan(repo, cfg, snapshot, items)


def plan_site_restore_at(
    repo: Repository,
    cfg: SiteConfig,
    point: PointInTime,
    sources: list[str] | None = None,
    targets: dict[str, str] | None = None,
) -> RestorePlan:
    """What restoring the site (or ``sources``) to ``point`` would do; changes nothing (module docstring)."""
    targets = dict(targets or {})
    snap = newest_snapshot_before(repo, cfg.site.name, point.when)
    recorded = {r.get("name") for r in snap.sources} if snap else set()
    cont = continuous_names(cfg, [s.name for s in cfg.sources])
    names = sources or [s.name for s in cfg.sources if s.name in cont or s.name in recorded]
    check_names(names, targets)
    others = [n for n in names if n not in cont]
    if others:
        snap = require_snapshot(snap, cfg.site.name, point.when, others)
    timelines = source_timelines(repo) if cont & set(names) else {}
    items: list[RestoreItem] = []
    for name in names:
        src = cfg.source(name)
        if name in cont:
            items.append(plan_continuous_item(repo, src, point, targets.get(name), timelines))
            continue
        assert snap is not None
        if name not in recorded:
            raise UsageError(f"snapshot {snap.short_id} does not contain source {name!r}")
        item = _plan_item(repo, snap, open_source(src), targets.get(name))
        item.state_time = snap.time.isoformat()
        item.behind_seconds = round(max(0.0, (point.when - snap.time).total_seconds()), 6)
        items.append(item)
    return RestorePlan(repo, cfg, snap if others else None, items, at=point.when.isoformat())


def plan_restore(repo: Repository, cfg: SiteConfig, ref: str | None, at: str | None,
                 sources: list[str] | None = None, targets: dict[str, str] | None = None) -> RestorePlan:
    """The plan of ``restore [SNAPSHOT] [--at TIME]``: to a point in time when ``at`` is given, else a snapshot."""
    if at is not None:
        if ref not in (None, "latest"):
            raise UsageError("give a SNAPSHOT or --at TIME, not both")
        return plan_site_restore_at(repo, cfg, parse_point(at), sources, targets)
    return plan_site_restore(repo, cfg, select_snapshot(repo, cfg.site.name, ref, None), sources, targets)


def _plan_item(repo: Repository, snapshot: Snapshot, kind: SourceKind, target: str | None) -> RestoreItem:
    in_place = target is None
    if isinstance(kind, TreeSource):
        path = target or str(kind.path)
        item = RestoreItem(kind.name, kind.type, path, in_place, os.path.exists(path),
                           occupied=not in_place and occupied_path(path))
        item.size, item.overwrite, item.create, deletes, item.unchanged = plan_tree(repo, snapshot, kind, path)
        item.delete = deletes if in_place else 0
        return item
    if not isinstance(kind, StreamSource):
        raise RestoreError(f"source {kind.name!r}: a {kind.type} source cannot be restored")
    return _plan_stream(repo, snapshot, kind, target)


def _plan_stream(repo: Repository, snapshot: Snapshot, kind: StreamSource, target: str | None) -> RestoreItem:
    info = _db_info(snapshot, kind.name)
    node = find_node(repo, snapshot.tree, kind.tree_path())
    raw = kind.resolve_target(target) if target is not None else None
    try:
        state = kind.inspect(raw)
    except UsageError as exc:
        raise _wrong_target(kind, target) if target is not None else exc from None
    except SourceError as exc:
        if not kind.restores_damaged:
            raise
        # A damaged file is the typical reason to restore: keep it aside, don't fail.
        return RestoreItem(kind.name, kind.type, raw or kind.origin(), target is None, True,
                           after=dict(info.tables), size=node.size, damaged=exc.message)
    occupied = target is not None and state.exists and (bool(state.tables) or occupied_path(raw or ""))
    return RestoreItem(kind.name, kind.type, kind.public_target(state.target), target is None, state.exists,
                       before=dict(state.tables), after=dict(info.tables), size=node.size, raw_target=raw or "",
                       occupied=occupied)


def _wrong_target(kind: StreamSource, target: str) -> UsageError:
    """``--to NAME=TARGET`` of the wrong kind: say what the source is and what a target of it looks like."""
    return UsageError(f"--to {kind.name}={target}: source {kind.name!r} is a {kind.type} database, so the "
                      f"target must be a {kind.type} database too",
                      hint=f"Give a target like the source's own: {kind.public_target(kind.origin())}")


def _restore_stream(
    repo: Repository, snapshot: Snapshot, kind: StreamSource, node: Node, item: RestoreItem, sink: ProgressSink
) -> dict[str, Any]:
    info = _db_info(snapshot, kind.name)
    if item.damaged:
        item.result["kept_damaged"] = kind.set_aside(item.target)
    reader = BlobReader(repo, node.content)
    target = None if item.in_place else (item.raw_target or kind.resolve_target(item.target))
    report = kind.restore(io.BufferedReader(reader, 1 << 20), info, target, sink)
    if report.tables != info.tables:
        raise RestoreError(f"source {kind.name}: restored row counts differ from the snapshot's record")
    return {**item.result, **report.to_dict()}
