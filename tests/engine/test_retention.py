"""Retention: golden files, a simulated 90 days, properties, and policy validation."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sitesnap.engine.retention import (
    RetentionPolicy,
    SnapshotSummary,
    format_duration,
    parse_duration,
    plan_retention,
)
from sitesnap.errors import ConfigError

GOLDEN = sorted((Path(__file__).parent / "golden").glob("retention_*.json"))


def _summary(raw: dict[str, Any]) -> SnapshotSummary:
    return SnapshotSummary(raw["id"], datetime.fromisoformat(raw["time"]), raw["type"],
                           tuple(raw["tags"]), raw["site"], raw["hostname"], tuple(raw["paths"]))


def test_golden_files_exist() -> None:
    assert len(GOLDEN) >= 10


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.stem)
def test_golden(path: Path) -> None:
    case = json.loads(path.read_text())
    plan = plan_retention([_summary(s) for s in case["snapshots"]],
                          RetentionPolicy.from_dict(case["policy"]),
                          datetime.fromisoformat(case["now"]))
    got = [
        {"key": dict(g.key),
         "decisions": [{"id": d.snapshot.id, "keep": d.keep, "reasons": list(d.reasons)}
                       for d in g.decisions]}
        for g in plan.groups
    ]
    assert got == case["expected"]


# --- a simulated 90 days with the default schedule --------------------------

START = datetime(2026, 1, 1, tzinfo=UTC)  # a Thursday


def _schedule(days: int) -> list[tuple[datetime, str, tuple[str, ...]]]:
    """Backups of the default schedule plus a few realtime, manual and pre-restore ones;
    ``"forget"`` entries are the daily 03:00 prune."""
    events: list[tuple[datetime, str, tuple[str, ...]]] = []
    for day in range(days):
        midnight = START + timedelta(days=day)
        events += [(midnight + timedelta(hours=h), "incremental", ()) for h in (0, 6, 12, 18)]
        if midnight.weekday() == 6:
            events.append((midnight + timedelta(hours=2), "full", ()))
        if midnight.weekday() in (0, 2, 4):
            events.append((midnight + timedelta(hours=15), "realtime", ()))
        events.append((midnight + timedelta(hours=3), "forget", ()))
    events += [
        (datetime(2026, 1, 10, 11, tzinfo=UTC), "snapshot", ("before-upgrade",)),
        (datetime(2026, 2, 20, 16, tzinfo=UTC), "snapshot", ()),
        (datetime(2026, 2, 10, 10, tzinfo=UTC), "pre-restore", ()),
        (datetime(2026, 3, 25, 10, tzinfo=UTC), "pre-restore", ()),
    ]
    return sorted(events, key=lambda e: (e[0], e[1] == "forget"))


Seen = dict[datetime, set[datetime]]


def _simulate(
    policy: RetentionPolicy, days: int, watch: Iterable[datetime] = ()
) -> tuple[list[SnapshotSummary], Seen]:
    """Run the schedule with a fake clock; returns what remains and, after each
    forget at a watched time, the snapshot times that remained then."""
    kept: list[SnapshotSummary] = []
    seen: Seen = {}
    watched = set(watch)
    for n, (when, kind, tags) in enumerate(_schedule(days)):
        if kind != "forget":
            kept.append(SnapshotSummary(f"{n:06d}", when, kind, tags, "blog", "web1", ("db",)))
            continue
        plan = plan_retention(kept, policy, now=when)
        forgotten = {s.id for s in plan.forget}
        kept = [s for s in kept if s.id not in forgotten]
        if when in watched:
            seen[when] = {s.time for s in kept}
    return kept, seen


def _times(kept: list[SnapshotSummary], kind: str) -> list[datetime]:
    return sorted(s.time for s in kept if s.type == kind)


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def _default_survivors() -> dict[str, list[datetime]]:
    """Worked out by hand.  The last forget runs 2026-03-31 03:00; the newest
    snapshot then is the incremental of 00:00, which anchors every age."""
    sundays = [_utc(2026, 1, d, 2) for d in (4, 11, 18, 25)] + \
              [_utc(2026, 2, d, 2) for d in (1, 8, 15, 22)] + \
              [_utc(2026, 3, d, 2) for d in (1, 8, 15, 22, 29)]
    return {
        # younger than 90 days: every Sunday full of the quarter
        "full": sundays,
        # younger than 30 days: after 03-01 00:00 exclusive, to 03-31 00:00, plus the
        # three made after the last forget (06:00, 12:00, 18:00 on 03-31)
        "incremental": [_utc(2026, 3, 1, 6) + timedelta(hours=6 * k) for k in range(123)],
        # younger than 7 days (after 03-24 00:00): Wed 25, Fri 27, Mon 30
        "realtime": [_utc(2026, 3, d, 15) for d in (25, 27, 30)],
        "snapshot": [_utc(2026, 1, 10, 11), _utc(2026, 2, 20, 16)],
        # 02-10 is 48 days old; 03-25 is 6 days old
        "pre-restore": [_utc(2026, 3, 25, 10)],
    }


def test_simulated_90_days_default_policy() -> None:
    kept, _ = _simulate(RetentionPolicy(), 90)
    expected = _default_survivors()
    assert Counter(s.type for s in kept) == {k: len(v) for k, v in expected.items()}
    assert {k: len(v) for k, v in expected.items()} == {
        "full": 13, "incremental": 123, "realtime": 3, "snapshot": 2, "pre-restore": 1}
    for kind, times in expected.items():
        assert _times(kept, kind) == times, kind
    assert _times(kept, "incremental")[-1] == _utc(2026, 3, 31, 18)


def test_simulated_90_days_with_monthly_rule() -> None:
    """keep_monthly 3 adds the newest snapshot of January and February; while a
    monthly count is left (all of February), restic's rule also keeps the oldest
    snapshot, which goes once March supplies the third month."""
    feb15, mar1 = _utc(2026, 2, 15, 3), _utc(2026, 3, 1, 3)
    kept, seen = _simulate(RetentionPolicy(keep_monthly=3), 90, watch=[feb15, mar1])
    expected = _default_survivors()
    expected["incremental"] = sorted([_utc(2026, 1, 31, 18), _utc(2026, 2, 28, 18),
                                      *expected["incremental"]])
    for kind, times in expected.items():
        assert _times(kept, kind) == times, kind
    assert len(kept) == 144
    assert _utc(2026, 1, 1, 0) in seen[feb15]
    assert _utc(2026, 1, 1, 6) not in seen[feb15]
    assert _utc(2026, 1, 1, 0) not in seen[mar1]
    assert _utc(2026, 1, 31, 18) in seen[mar1]


# --- properties ---------------------------------------------------------------

BASE = datetime(2026, 6, 1, tzinfo=UTC)
TYPES = ["full", "incremental", "snapshot", "realtime", "pre-restore"]

snapshot_lists = st.lists(
    st.builds(
        SnapshotSummary,
        id=st.uuids().map(str),
        time=st.integers(-400 * 24, 2).map(lambda h: BASE + timedelta(hours=h)),
        type=st.sampled_from(TYPES),
        tags=st.lists(st.sampled_from(["keep", "prod", "release"]), max_size=2).map(tuple),
        site=st.sampled_from(["blog", "shop"]),
        hostname=st.sampled_from(["web1", "web2"]),
        paths=st.just(("db",)),
    ),
    max_size=40,
    unique_by=lambda s: s.id,
)
counts = st.sampled_from([0, 0, 1, 2, 3, 5, -1])
durations = st.one_of(st.none(), st.integers(1, 24 * 120).map(lambda h: timedelta(hours=h)))
policies = st.builds(
    RetentionPolicy,
    max_age=st.fixed_dictionaries({
        "full": durations, "incremental": durations, "realtime": durations,
        "pre-restore": durations}),
    keep_last=counts, keep_hourly=counts, keep_daily=counts, keep_weekly=counts,
    keep_monthly=counts, keep_yearly=counts, keep_within=durations,
    keep_within_daily=durations, keep_within_weekly=durations,
    keep_tags=st.lists(st.sampled_from(["keep", "prod,release"]), max_size=2).map(tuple),
    tz=st.sampled_from(["UTC", "Asia/Shanghai", "America/New_York"]),
)


@settings(max_examples=150, deadline=None)
@given(snapshot_lists, policies)
def test_newest_of_each_group_is_kept(
    snaps: list[SnapshotSummary], policy: RetentionPolicy
) -> None:
    plan = plan_retention(snaps, policy, BASE)
    assert sum(len(g.decisions) for g in plan.groups) == len(snaps)
    for group in plan.groups:
        newest = max(group.decisions, key=lambda d: d.snapshot.time)
        assert newest.keep
    for decision in plan.decisions:
        assert decision.keep == bool(decision.reasons)


@settings(max_examples=150, deadline=None)
@given(snapshot_lists, policies)
def test_applying_a_plan_twice_forgets_nothing_more(
    snaps: list[SnapshotSummary], policy: RetentionPolicy
) -> None:
    kept = plan_retention(snaps, policy, BASE).keep
    assert plan_retention(kept, policy, BASE).forget == []


def _widen(policy: RetentionPolicy, rule: str, amount: int) -> RetentionPolicy:
    if rule.startswith("keep_within"):
        old = getattr(policy, rule)
        return replace(policy, **{rule: (old or timedelta()) + timedelta(hours=amount)})
    if rule == "keep_tags":
        tag = ["keep", "prod", "release"][amount % 3]
        return replace(policy, keep_tags=(*policy.keep_tags, tag))
    if rule.startswith("max_age:"):
        kind = rule.split(":")[1]
        ages = dict(policy.max_age)
        old_age = ages.get(kind)
        ages[kind] = None if old_age is None or amount > 100 else old_age + timedelta(hours=amount)
        return replace(policy, max_age=ages)
    old_count = getattr(policy, rule)
    return replace(policy, **{rule: -1 if old_count == -1 or amount > 100 else old_count + amount})


RULES = ["keep_last", "keep_hourly", "keep_daily", "keep_weekly", "keep_monthly", "keep_yearly",
         "keep_within", "keep_within_hourly", "keep_within_daily", "keep_within_monthly",
         "keep_tags", "max_age:full", "max_age:incremental", "max_age:realtime"]


@settings(max_examples=200, deadline=None)
@given(snapshot_lists, policies, st.sampled_from(RULES), st.integers(1, 120))
def test_adding_a_rule_never_forgets_more(
    snaps: list[SnapshotSummary], policy: RetentionPolicy, rule: str, amount: int
) -> None:
    before = {s.id for s in plan_retention(snaps, policy, BASE).forget}
    after = {s.id for s in plan_retention(snaps, _widen(policy, rule, amount), BASE).forget}
    assert after <= before


# --- policy and input validation ----------------------------------------------

def test_default_policy_is_the_seed_table() -> None:
    ages = RetentionPolicy().max_age
    assert ages == {"full": timedelta(days=90), "incremental": timedelta(days=30),
                    "realtime": timedelta(days=7), "snapshot": None,
                    "pre-restore": timedelta(days=30)}


@pytest.mark.parametrize(("text", "delta"), [
    ("90d", timedelta(days=90)), ("2w", timedelta(days=14)), ("36h", timedelta(hours=36)),
    ("1w2d3h", timedelta(days=9, hours=3)), (" 7D ", timedelta(days=7)),
])
def test_parse_duration(text: str, delta: timedelta) -> None:
    assert parse_duration(text) == delta
    assert parse_duration(format_duration(delta)) == delta


@pytest.mark.parametrize("text", ["", "90", "d", "3 months", "1y", "-5d", "5d-"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ConfigError, match="not a duration"):
        parse_duration(text)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"keep_daily": -2}, "keep_daily"),
    ({"keep_within": timedelta(0)}, "keep_within"),
    ({"max_age": {"snapshot": timedelta(days=1)}}, "manual snapshots"),
    ({"max_age": {"full": timedelta(days=-1)}}, "full"),
    ({"group_by": ("site", "colour")}, "colour"),
    ({"tz": "Mars/Olympus"}, "time zone"),
])
def test_policy_rejects_bad_settings(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        RetentionPolicy(**kwargs)


def test_policy_dict_round_trip() -> None:
    policy = RetentionPolicy(keep_daily=7, keep_within=timedelta(days=2),
                             keep_tags=("keep", "prod,release"), tz="Asia/Shanghai")
    assert RetentionPolicy.from_dict(policy.to_dict()).to_dict() == policy.to_dict()
    with pytest.raises(ConfigError, match="keep_dayly"):
        RetentionPolicy.from_dict({"keep_dayly": 3})


def test_naive_times_are_refused() -> None:
    naive = SnapshotSummary("a", datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="time zone"):
        plan_retention([naive], RetentionPolicy(), BASE)
    with pytest.raises(ValueError, match="time zone"):
        plan_retention([], RetentionPolicy(), datetime(2026, 1, 1))


def test_plan_to_dict_and_group_by_site_only() -> None:
    snaps = [SnapshotSummary("a", BASE - timedelta(days=40), site="blog", hostname="h1"),
             SnapshotSummary("b", BASE - timedelta(days=1), site="blog", hostname="h2")]
    plan = plan_retention(snaps, RetentionPolicy(group_by=("site",)), BASE)
    assert [s.id for s in plan.forget] == ["a"]
    data = plan.to_dict()
    assert data["groups"][0]["key"] == {"site": "blog"}
    assert data["groups"][0]["decisions"][1] == {
        "id": "a", "time": snaps[0].time.isoformat(), "type": "incremental", "keep": False,
        "reasons": []}
    per_host = plan_retention(snaps, RetentionPolicy(), BASE)
    assert per_host.forget == []
