"""Forget: delete snapshot objects that the retention policy (or the user) no longer wants.

``plan_forget()`` decides (with :mod:`sitesnap.engine.retention`, which
explains every keep) and ``ForgetPlan.execute()`` deletes the snapshot files;
:func:`forget_snapshots` does both under the repository's lock and is what
the CLI, the web API and the scheduled job call.
Data is left to ``prune``.  Snapshots are immutable objects, so
forgetting one never affects another.

With a site, the log stream of its continuous sources is trimmed too:
a log generation is deleted when every second it covers lies before the
oldest snapshot of the site that is kept (nothing any restore to a time
the kept snapshots reach needs it), and never the newest generation of a
source.  Only sources that a snapshot of the site records are considered,
so another site's log in a shared repository is left alone.  ``prune``
then frees the blobs those segments used.

The policy is the site's ``[retention]`` table when a site config is used,
otherwise the seed's defaults (:data:`~sitesnap.engine.retention.DEFAULT_MAX_AGE`);
options given on the command line replace single fields of it
(:func:`override_policy`).  With a site, only that site's snapshots are
considered.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sitesnap.config import Retention
from sitesnap.engine.replay import to_time_ns
from sitesnap.engine.retention import (
    DEFAULT_MAX_AGE,
    RetentionPlan,
    RetentionPolicy,
    SnapshotSummary,
    parse_duration,
    plan_retention,
)
from sitesnap.errors import UsageError
from sitesnap.format.snapshot import Snapshot
from sitesnap.repository import logstream
from sitesnap.repository.logtimeline import build_timelines
from sitesnap.repository.prune import ensure_deletable
from sitesnap.repository.repository import Repository

__all__ = [
    "ForgetPlan",
    "ForgetResult",
    "forget_snapshots",
    "override_policy",
    "parse_max_age",
    "plan_forget",
    "plan_log_retention",
    "policy_from_config",
]


def policy_from_config(ret: Retention, tz: str | None = None) -> RetentionPolicy:
    """The site's ``[retention]`` table as a :class:`RetentionPolicy` (calendar units in ``tz``)."""
    return RetentionPolicy(
        max_age=ret.max_age(),
        keep_last=ret.keep_last,
        keep_hourly=ret.keep_hourly,
        keep_daily=ret.keep_daily,
        keep_weekly=ret.keep_weekly,
        keep_monthly=ret.keep_monthly,
        keep_yearly=ret.keep_yearly,
        keep_within=ret.keep_within,
        keep_within_hourly=ret.keep_within_hourly,
        keep_within_daily=ret.keep_within_daily,
        keep_within_weekly=ret.keep_within_weekly,
        keep_within_monthly=ret.keep_within_monthly,
        keep_within_yearly=ret.keep_within_yearly,
        keep_tags=tuple(ret.keep_tags),
        group_by=tuple(ret.group_by),
        tz=tz or "UTC",
    )


AGE_OFF = timedelta(microseconds=1)
"""An age limit that keeps nothing by itself (only the newest snapshot is that young)."""

ALL_TYPES = ("full", "incremental", "realtime", "pre-restore", "manual")
"""What ``all=`` in :func:`parse_max_age` covers: every type but the manual ``snapshot`` type."""


def parse_max_age(items: list[str]) -> dict[str, timedelta | None]:
    """``["incremental=7d", "manual=forever", "all=off"]`` -> type -> age.

    ``forever`` means no limit (None); ``off`` means the type's age keeps
    nothing, so only the keep rules decide (restic's behaviour); ``all``
    stands for every type except ``snapshot``, which is only deleted by hand.
    """
    out: dict[str, timedelta | None] = {}
    for item in items:
        kind, sep, value = (part.strip() for part in item.partition("="))
        if not sep or not kind or not value:
            raise UsageError(f"--max-age expects TYPE=DURATION (e.g. incremental=30d), got {item!r}")
        if value.lower() in ("forever", "none"):
            age: timedelta | None = None
        elif value.lower() == "off":
            age = AGE_OFF
        else:
            age = parse_duration(value)
        for name in ALL_TYPES if kind == "all" else (kind,):
            out[name] = age
    return out


def override_policy(
    base: RetentionPolicy | None, *, max_age: dict[str, timedelta | None] | None = None, **fields: Any
) -> RetentionPolicy:
    """``base`` (default: the seed's) with the given fields replaced; ``None`` values are ignored.

    ``max_age`` entries replace single snapshot types' ages; other types keep theirs.
    """
    policy = base or RetentionPolicy(max_age=dict(DEFAULT_MAX_AGE))
    changes = {k: v for k, v in fields.items() if v not in (None, (), [])}
    if max_age:
        changes["max_age"] = {**policy.max_age, **max_age}
    return dataclasses.replace(policy, **changes) if changes else policy


def _summary(s: Snapshot) -> SnapshotSummary:
    return SnapshotSummary(s.id, s.time, s.type, tuple(s.tags), s.site or "", s.hostname, tuple(s.paths))


@dataclass
class ForgetPlan:
    """Snapshots to forget, with the retention plan that explains them (None for explicit IDs)."""

    repo: Repository
    snapshots: dict[str, Snapshot]
    forget: list[str]
    retention: RetentionPlan | None = None
    removed: list[str] = field(default_factory=list)
    log_generations: list[tuple[str, str]] = field(default_factory=list)  # (source, generation hex) to delete
    log_segments: list[str] = field(default_factory=list)  # their segment IDs

    @property
    def keep(self) -> list[str]:
        doomed = set(self.forget)
        return [sid for sid in self.snapshots if sid not in doomed]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "keep": self.keep,
            "forget": self.forget,
            "removed": self.removed,
        }
        if self.retention is not None:
            out["retention"] = self.retention.to_dict()
        out["log_generations"] = [{"source": s, "generation": g} for s, g in self.log_generations]
        return out

    def execute(self) -> list[str]:
        """Delete the snapshot files, then the log segments; raises AppendOnlyError before deleting anything."""
        ensure_deletable(self.repo, "forget")
        for sid in self.forget:
            self.repo.delete_snapshot(sid)
            self.removed.append(sid)
        for segment_id in self.log_segments:
            logstream.delete_segment(self.repo, segment_id)
        return self.removed


def plan_log_retention(repo: Repository, kept: list[Snapshot], sources: set[str]) -> tuple[list[tuple[str, str]],
                                                                                           list[str]]:
    """(source, generation) pairs of ``sources`` no longer needed once only ``kept`` remain, and their segments.

    A generation is needed when its newest time is at or after the oldest
    kept snapshot's time; the newest generation of a source always is.  No
    kept snapshot: nothing is trimmed (there is no anchor to reach back to).
    """
    if not kept or not sources:
        return [], []
    anchor_ns = to_time_ns(min(s.time for s in kept)) - 999  # the first nanosecond of its microsecond
    segments = logstream.load_segments(repo, errors=[])
    doomed: set[tuple[str, bytes]] = set()
    for name, timeline in build_timelines(segments).items():
        if name not in sources or not timeline.generations:
            continue
        newest = max(timeline.generations, key=lambda g: (g.newest_ns, g.oldest_ns))
        doomed |= {(name, g.generation) for g in timeline.generations
                   if g is not newest and g.newest_ns < anchor_ns}
    ids = [seg.id for seg in segments if (seg.source, seg.generation) in doomed and seg.id]
    return sorted((s, g.hex()) for s, g in doomed), ids


def plan_forget(
    repo: Repository,
    *,
    policy: RetentionPolicy | None = None,
    snapshot_refs: list[str] | None = None,
    site: str | None = None,
    now: datetime | None = None,
) -> ForgetPlan:
    """Decide which snapshots to forget: ``snapshot_refs`` if given, else by ``policy``.

    ``site`` limits the policy to that site's snapshots.  Damaged snapshot
    files are left out (``repair snapshots`` deals with them).  Changes nothing.
    """
    snaps = repo.load_snapshots(on_error=lambda *_: None)
    by_id = {s.id: s for s in snaps}
    if snapshot_refs:
        chosen = [repo.find_snapshot(ref, snaps).id for ref in snapshot_refs]
        plan = ForgetPlan(repo, by_id, list(dict.fromkeys(chosen)))
    else:
        if site is not None:
            by_id = {sid: s for sid, s in by_id.items() if s.site == site}
        retention = plan_retention([_summary(s) for s in by_id.values()], policy or override_policy(None),
                                   now or datetime.now(UTC))
        plan = ForgetPlan(repo, by_id, [m.id for m in retention.forget], retention)
    if site is not None:
        ours = [s for s in by_id.values() if s.site == site]
        sources = {str(r.get("name")) for s in ours for r in s.sources}
        plan.log_generations, plan.log_segments = plan_log_retention(
            repo, [s for s in ours if s.id not in set(plan.forget)], sources)
    return plan


@dataclass(frozen=True)
class ForgetResult:
    """What :func:`forget_snapshots` decided and did; ``removed`` is empty for a dry run."""

    dry_run: bool
    keep: list[str]
    forget: list[str]
    removed: list[str]
    retention: RetentionPlan | None = None
    log_generations: list[tuple[str, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"keep": self.keep, "forget": self.forget, "removed": self.removed,
                               "log_generations": [{"source": s, "generation": g} for s, g in self.log_generations]}
        if self.retention is not None:
            out["retention"] = self.retention.to_dict()
        return out


def forget_snapshots(
    repo: Repository,
    *,
    policy: RetentionPolicy | None = None,
    snapshot_refs: list[str] | None = None,
    site: str | None = None,
    own_site_only: bool = False,
    now: datetime | None = None,
    dry_run: bool = False,
) -> ForgetResult:
    """Plan (see :func:`plan_forget`) and, unless ``dry_run``, forget, holding the repository's lock.

    The lock is exclusive when snapshots are deleted, shared for a dry run.
    With ``own_site_only``, explicit ``snapshot_refs`` of another site than
    ``site`` are refused (UsageError) before anything is deleted.  Raises
    AppendOnlyError before locking when the repository refuses deletes.
    """
    if not dry_run:
        ensure_deletable(repo, "forget")
    with repo.lock(exclusive=not dry_run, operation="forget"):
        plan = plan_forget(repo, policy=policy, snapshot_refs=snapshot_refs, site=site, now=now)
        if own_site_only and snapshot_refs:
            _refuse_other_sites(plan, site)
        if not dry_run:
            plan.execute()
    return ForgetResult(dry_run, plan.keep, list(plan.forget), list(plan.removed), plan.retention,
                        list(plan.log_generations))


def _refuse_other_sites(plan: ForgetPlan, site: str | None) -> None:
    for sid in plan.forget:
        snap = plan.snapshots[sid]
        if snap.site != site:
            raise UsageError(f"snapshot {snap.short_id} belongs to {snap.site or 'no site'!r}, not {site!r}")
