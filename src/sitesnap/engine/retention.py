"""Retention: which snapshots ``forget`` keeps, and why.  Pure functions, no IO.

A snapshot is **kept if any rule keeps it**; every kept snapshot carries the
list of reasons, so ``sitesnap forget --dry-run`` and the console can show
them.  The rules:

* **Type age** (the seed's table): ``full`` 90 days, ``incremental`` 30 days,
  ``realtime`` 7 days, ``pre-restore`` 30 days, manual ``snapshot`` forever.
  Manual snapshots are never forgotten by a policy, only deleted by hand; a
  type with no entry in the table has no age limit either.
* **restic's rules**, with restic's bucket semantics (``ApplyPolicy`` in
  ``internal/restic/snapshot_policy.go``): ``keep_last``; ``keep_hourly`` ...
  ``keep_yearly`` keep the newest snapshot of each of the *n* newest hours,
  days, ISO weeks, months or years that hold a snapshot (calendar units in
  ``policy.tz``), and the oldest snapshot too while a counter is left, so
  history is as long as possible; ``-1`` means every bucket.  ``keep_within``
  keeps everything younger than a duration; ``keep_within_daily`` (etc.)
  keeps the newest snapshot of each calendar unit within a duration.
* **Tags**: ``keep_tags`` entries are tag lists; a snapshot having every tag of
  one entry is kept (``"a,b"`` means both tags).
* The **newest snapshot of each group** is always kept, so no policy can
  delete everything.

Snapshots are grouped like restic's ``--group-by`` (default: site, host name
and paths) and each group is decided on its own.  Ages are measured, as
restic's ``--keep-within`` does, from the group's newest snapshot that is not
after ``now``: a site whose backups stopped keeps its history instead of
losing it day by day.  Snapshot times must be timezone-aware.

Properties (tested): the newest snapshot of a group is always kept; applying
a plan to its own kept set forgets nothing (idempotent); adding or widening a
rule never forgets more (monotone).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sitesnap.engine.retention_plan import Decision, GroupPlan, RetentionPlan
from sitesnap.errors import ConfigError

__all__ = [
    "DEFAULT_MAX_AGE",
    "SNAPSHOT_TYPES",
    "Decision",
    "GroupPlan",
    "RetentionPlan",
    "RetentionPolicy",
    "SnapshotMeta",
    "SnapshotSummary",
    "format_duration",
    "parse_duration",
    "plan_retention",
]

SNAPSHOT_TYPES = ("full", "incremental", "snapshot", "realtime", "pre-restore")
MANUAL = "snapshot"
GROUP_KEYS = ("site", "hostname", "paths", "tags")

DEFAULT_MAX_AGE: Mapping[str, timedelta | None] = {
    "full": timedelta(days=90),
    "incremental": timedelta(days=30),
    "realtime": timedelta(days=7),
    "snapshot": None,
    "pre-restore": timedelta(days=30),
}

CALENDAR_UNITS = ("hourly", "daily", "weekly", "monthly", "yearly")


class SnapshotMeta(Protocol):
    """What retention needs to know about a snapshot."""

    @property
    def id(self) -> str: ...
    @property
    def time(self) -> datetime: ...
    @property
    def type(self) -> str: ...
    @property
    def tags(self) -> Collection[str]: ...
    @property
    def site(self) -> str: ...
    @property
    def hostname(self) -> str: ...
    @property
    def paths(self) -> Collection[str]: ...


@dataclass(frozen=True)
class SnapshotSummary:
    """A plain :class:`SnapshotMeta`, for callers without repository objects."""

    id: str
    time: datetime
    type: str = "incremental"
    tags: tuple[str, ...] = ()
    site: str = ""
    hostname: str = ""
    paths: tuple[str, ...] = ()


_DURATION = re.compile(r"(\d+)([wdh])")
_UNIT = {"w": timedelta(weeks=1), "d": timedelta(days=1), "h": timedelta(hours=1)}


def parse_duration(text: str) -> timedelta:
    """Parse ``"90d"``, ``"1w2d"``, ``"36h"``; raises :class:`ConfigError`."""
    cleaned = text.strip().lower()
    parts = _DURATION.findall(cleaned)
    if not cleaned or "".join(n + u for n, u in parts) != cleaned:
        raise ConfigError(f"not a duration: {text!r}", hint="Write e.g. '90d', '2w', '36h'.")
    return sum((int(n) * _UNIT[u] for n, u in parts), timedelta())


def format_duration(delta: timedelta) -> str:
    """The inverse of :func:`parse_duration` for whole hours (``"90d"``, ``"1d12h"``)."""
    hours = int(delta.total_seconds()) // 3600
    days, hours = divmod(hours, 24)
    text = (f"{days}d" if days else "") + (f"{hours}h" if hours else "")
    return text or f"{int(delta.total_seconds())}s"


def _tag_set(entry: str | Iterable[str]) -> frozenset[str]:
    items = entry.split(",") if isinstance(entry, str) else entry
    return frozenset(t.strip() for t in items if t.strip())


@dataclass(frozen=True)
class RetentionPolicy:
    """Which snapshots to keep.  Counts: 0 = rule off, -1 = unlimited.

    Raises :class:`ConfigError` for negative counts or durations, unknown
    group keys, an unknown time zone, or an age limit on manual snapshots.
    """

    max_age: Mapping[str, timedelta | None] = field(default_factory=lambda: dict(DEFAULT_MAX_AGE))
    keep_last: int = 0
    keep_hourly: int = 0
    keep_daily: int = 0
    keep_weekly: int = 0
    keep_monthly: int = 0
    keep_yearly: int = 0
    keep_within: timedelta | None = None
    keep_within_hourly: timedelta | None = None
    keep_within_daily: timedelta | None = None
    keep_within_weekly: timedelta | None = None
    keep_within_monthly: timedelta | None = None
    keep_within_yearly: timedelta | None = None
    keep_tags: Sequence[str | Collection[str]] = ()
    group_by: Sequence[str] = ("site", "hostname", "paths")
    tz: str = "UTC"

    def __post_init__(self) -> None:
        for name in ("last", *CALENDAR_UNITS):
            if getattr(self, f"keep_{name}") < -1:
                raise ConfigError(f"keep_{name} must be -1 (all), 0 (off) or a positive count")
        for name in ("", *(f"_{u}" for u in CALENDAR_UNITS)):
            value = getattr(self, f"keep_within{name}")
            if value is not None and value <= timedelta(0):
                raise ConfigError(f"keep_within{name} must be a positive duration")
        for kind, age in self.max_age.items():
            if kind == MANUAL and age is not None:
                raise ConfigError(
                    "manual snapshots have no age limit",
                    hint="Manual snapshots are kept until deleted by hand; remove that entry.",
                )
            if age is not None and age <= timedelta(0):
                raise ConfigError(f"max age of {kind} snapshots must be a positive duration")
        unknown = set(self.group_by) - set(GROUP_KEYS)
        if unknown:
            raise ConfigError(f"cannot group snapshots by {', '.join(sorted(unknown))}",
                              hint=f"Group by any of: {', '.join(GROUP_KEYS)}.")
        self.zone()

    def zone(self) -> tzinfo:
        """The time zone that calendar buckets (days, weeks...) are counted in."""
        try:
            return ZoneInfo(self.tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(f"unknown time zone {self.tz!r}") from exc

    def tag_sets(self) -> list[frozenset[str]]:
        return [s for s in (_tag_set(e) for e in self.keep_tags) if s]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (durations as ``"90d"``), read back by :meth:`from_dict`."""
        out: dict[str, Any] = {
            "max_age": {k: format_duration(v) if v else None for k, v in self.max_age.items()},
        }
        for name in ("last", *CALENDAR_UNITS):
            out[f"keep_{name}"] = getattr(self, f"keep_{name}")
        for name in ("", *(f"_{u}" for u in CALENDAR_UNITS)):
            value = getattr(self, f"keep_within{name}")
            out[f"keep_within{name}"] = format_duration(value) if value else None
        out["keep_tags"] = [",".join(sorted(s)) for s in self.tag_sets()]
        out["group_by"] = list(self.group_by)
        out["tz"] = self.tz
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RetentionPolicy:
        """Build a policy from :meth:`to_dict`'s shape; missing keys take defaults."""
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key == "max_age":
                ages = dict(DEFAULT_MAX_AGE)
                ages.update({k: parse_duration(v) if v else None for k, v in value.items()})
                kwargs[key] = ages
            elif key.startswith("keep_within"):
                kwargs[key] = parse_duration(value) if value else None
            elif key in ("keep_tags", "group_by"):
                kwargs[key] = tuple(value)
            elif key in cls.__dataclass_fields__:
                kwargs[key] = value
            else:
                raise ConfigError(f"unknown retention setting {key!r}")
        return cls(**kwargs)


# --- buckets -------------------------------------------------------------

Bucketer = Callable[[datetime], tuple[int, ...]]


def _iso_week(t: datetime) -> tuple[int, ...]:
    year, week, _ = t.isocalendar()
    return (year, week)


_BUCKETS: dict[str, tuple[Bucketer, Callable[[datetime], str]]] = {
    "hourly": (lambda t: (t.year, t.month, t.day, t.hour), lambda t: t.strftime("%Y-%m-%d %H:00")),
    "daily": (lambda t: (t.year, t.month, t.day), lambda t: t.strftime("%Y-%m-%d")),
    "weekly": (_iso_week, lambda t: "{}-W{:02d}".format(*_iso_week(t))),
    "monthly": (lambda t: (t.year, t.month), lambda t: t.strftime("%Y-%m")),
    "yearly": (lambda t: (t.year,), lambda t: t.strftime("%Y")),
}


def _aware(t: datetime) -> datetime:
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"snapshot time {t.isoformat()} has no time zone")
    return t.astimezone(UTC)


def _group_key(s: SnapshotMeta, group_by: Sequence[str]) -> tuple[tuple[str, str], ...]:
    values = {
        "site": lambda: s.site,
        "hostname": lambda: s.hostname,
        "paths": lambda: ",".join(sorted(s.paths)),
        "tags": lambda: ",".join(sorted(s.tags)),
    }
    return tuple((k, values[k]()) for k in group_by)


def _counted_rules(
    ordered: Sequence[SnapshotMeta], policy: RetentionPolicy, zone: tzinfo
) -> list[list[str]]:
    """keep_last and keep_hourly..yearly, exactly as restic counts them."""
    reasons: list[list[str]] = [[] for _ in ordered]
    last_index = len(ordered) - 1
    for unit in ("last", *CALENDAR_UNITS):
        left = getattr(policy, f"keep_{unit}")
        previous: tuple[int, ...] | None = None
        for i, snap in enumerate(ordered):
            if left == 0:
                break
            local = snap.time.astimezone(zone)
            value = (i,) if unit == "last" else _BUCKETS[unit][0](local)
            is_new = value != previous
            if is_new or i == last_index:
                previous = value
                left = left - 1 if left > 0 else left
                if unit == "last":
                    reasons[i].append("last snapshot")
                elif is_new:
                    reasons[i].append(f"{unit} snapshot {_BUCKETS[unit][1](local)}")
                else:
                    reasons[i].append(f"oldest snapshot, {unit} count left")
    return reasons


def _within_rules(
    ordered: Sequence[SnapshotMeta], policy: RetentionPolicy, zone: tzinfo, anchor: datetime
) -> list[list[str]]:
    """keep_within and keep_within_hourly..yearly, relative to ``anchor``."""
    reasons: list[list[str]] = [[] for _ in ordered]
    if policy.keep_within is not None:
        for i, snap in enumerate(ordered):
            if snap.time > anchor - policy.keep_within:
                reasons[i].append(f"within {format_duration(policy.keep_within)}")
    for unit in CALENDAR_UNITS:
        within: timedelta | None = getattr(policy, f"keep_within_{unit}")
        if within is None:
            continue
        previous: tuple[int, ...] | None = None
        for i, snap in enumerate(ordered):
            if snap.time > anchor - within:
                local = snap.time.astimezone(zone)
                value = _BUCKETS[unit][0](local)
                if value != previous:
                    previous = value
                    reasons[i].append(
                        f"{unit} within {format_duration(within)} {_BUCKETS[unit][1](local)}"
                    )
    return reasons


def _per_snapshot_rules(snap: SnapshotMeta, policy: RetentionPolicy, anchor: datetime) -> list[str]:
    """Type age and tags: rules that look at one snapshot alone."""
    reasons: list[str] = []
    if snap.type == MANUAL:
        reasons.append("manual snapshot, kept until deleted by hand")
    elif snap.type not in policy.max_age or policy.max_age[snap.type] is None:
        reasons.append(f"type {snap.type} has no age limit")
    else:
        limit = policy.max_age[snap.type]
        assert limit is not None
        # An age under a second is "off" (forget --max-age TYPE=off): it keeps nothing, not "younger than 0s".
        if limit >= timedelta(seconds=1) and snap.time > anchor - limit:
            reasons.append(f"type {snap.type} younger than {format_duration(limit)}")
    tags = set(snap.tags)
    for wanted in policy.tag_sets():
        if wanted <= tags:
            reasons.append(f"tagged {','.join(sorted(wanted))}")
    return reasons


def _plan_group(
    key: tuple[tuple[str, str], ...], snaps: list[SnapshotMeta], policy: RetentionPolicy,
    now: datetime,
) -> GroupPlan:
    ordered = sorted(snaps, key=lambda s: (_aware(s.time), s.id), reverse=True)
    past = [s.time for s in ordered if s.time <= now]
    anchor = max(past) if past else now
    zone = policy.zone()
    counted = _counted_rules(ordered, policy, zone)
    within = _within_rules(ordered, policy, zone, anchor)
    decisions = []
    for i, snap in enumerate(ordered):
        reasons = ["newest snapshot of its group"] if i == 0 else []
        reasons += _per_snapshot_rules(snap, policy, anchor) + counted[i] + within[i]
        decisions.append(Decision(snap, bool(reasons), tuple(reasons)))
    return GroupPlan(key, tuple(decisions))


def plan_retention(
    snapshots: Iterable[SnapshotMeta], policy: RetentionPolicy, now: datetime
) -> RetentionPlan:
    """Decide keep or forget for every snapshot; deterministic and side-effect free.

    Groups come out sorted by key, decisions newest first (ties by ID).
    Raises ValueError for a naive ``now`` or snapshot time.
    """
    now = _aware(now)
    groups: dict[tuple[tuple[str, str], ...], list[SnapshotMeta]] = {}
    for snap in snapshots:
        _aware(snap.time)
        groups.setdefault(_group_key(snap, policy.group_by), []).append(snap)
    planned = tuple(_plan_group(k, groups[k], policy, now) for k in sorted(groups))
    return RetentionPlan(policy, now, planned)
