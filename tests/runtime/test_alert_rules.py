"""The alert rules, one condition at a time, including their edges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sitesnap.runtime.alerts.rules import (
    RULES,
    AlertThresholds,
    BackupRun,
    CaptureState,
    IntegrityResult,
    RepositoryUsage,
    RuleId,
    RunStatus,
    Severity,
    SiteFacts,
    evaluate,
)

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
OK, FAIL, RUNNING, CANCELLED = (RunStatus.SUCCESS, RunStatus.FAILED, RunStatus.RUNNING,
                                RunStatus.CANCELLED)


def run(status: RunStatus, hours_ago: float, minutes: float | None = 10.0) -> BackupRun:
    started = NOW - timedelta(hours=hours_ago)
    finished = None if minutes is None else started + timedelta(minutes=minutes)
    return BackupRun(status=status, started=started, finished=finished)


def facts(*runs: BackupRun, **kw: object) -> SiteFacts:
    kw.setdefault("last_success", NOW - timedelta(hours=1))
    return SiteFacts(site="blog", now=NOW, runs=runs, console_url="https://c/sites/blog", **kw)  # type: ignore[arg-type]


def rules(f: SiteFacts, limits: AlertThresholds | None = None) -> list[str]:
    return [a.rule.value for a in evaluate(f, limits)]


# -- consecutive failures ------------------------------------------------------


@pytest.mark.parametrize(
    ("statuses", "fires"),
    [
        ((), False),
        ((FAIL,), False),
        ((FAIL, OK), False),
        ((FAIL, FAIL), True),
        ((FAIL, FAIL, FAIL, OK), True),
        ((OK, FAIL, FAIL), False),
        ((RUNNING, FAIL, FAIL), True),  # a run in progress does not clear the streak
        ((FAIL, CANCELLED, FAIL), True),  # nor does a cancelled one
        ((RUNNING, FAIL, OK), False),
    ],
)
def test_consecutive_failures(statuses: tuple[RunStatus, ...], fires: bool) -> None:
    runs = [run(s, hours_ago=i + 1) for i, s in enumerate(statuses)]
    alerts = [a for a in evaluate(facts(*runs)) if a.rule is RuleId.CONSECUTIVE_FAILURES]
    assert bool(alerts) is fires
    if fires:
        streak = 0
        for s in statuses:
            if s in (RUNNING, CANCELLED):
                continue
            if s is not FAIL:
                break
            streak += 1
        assert alerts[0].values == {"failures": streak, "threshold": 2}
        assert alerts[0].severity is Severity.CRITICAL
        assert alerts[0].console_url == "https://c/sites/blog"
        assert f"{streak} consecutive backups of blog failed" == alerts[0].summary


def test_consecutive_failures_threshold_is_configurable() -> None:
    runs = [run(FAIL, 1), run(FAIL, 2)]
    assert "consecutive_failures" not in rules(facts(*runs), AlertThresholds(consecutive_failures=3))
    runs.append(run(FAIL, 3))
    assert "consecutive_failures" in rules(facts(*runs), AlertThresholds(consecutive_failures=3))
    assert "consecutive_failures" in rules(facts(run(FAIL, 1)),
                                           AlertThresholds(consecutive_failures=1))


# -- storage quota ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("repo", "percent"),
    [
        (RepositoryUsage("main", used_bytes=81, quota_bytes=100), 81.0),
        (RepositoryUsage("main", used_bytes=80, quota_bytes=100), None),  # "above", not "at"
        (RepositoryUsage("main", used_bytes=10, quota_bytes=100, free_bytes=1), None),
        (RepositoryUsage("main", used_bytes=90, free_bytes=10), 90.0),  # local: used + free
        (RepositoryUsage("main", used_bytes=80, free_bytes=20), None),
        (RepositoryUsage("main", used_bytes=5, quota_bytes=0, free_bytes=1), 5 / 6 * 100),
        (RepositoryUsage("main", used_bytes=10**15), None),  # nothing to compare with
        (RepositoryUsage("main", used_bytes=0, free_bytes=0), 100.0),  # full disk
    ],
)
def test_storage_quota(repo: RepositoryUsage, percent: float | None) -> None:
    alerts = [a for a in evaluate(facts(repositories=(repo,))) if a.rule is RuleId.STORAGE_QUOTA]
    if percent is None:
        assert alerts == []
        return
    (alert,) = alerts
    assert alert.subject == "main"
    assert alert.values["percent"] == round(percent, 2)
    assert alert.values["threshold_percent"] == 80.0
    assert alert.values["basis"] == ("quota" if repo.quota_bytes else "disk")
    assert "repository main of blog" in alert.summary


def test_storage_quota_one_alert_per_repository() -> None:
    repos = (RepositoryUsage("a", 95, 100), RepositoryUsage("b", 10, 100),
             RepositoryUsage("c", 99, 100))
    alerts = [a for a in evaluate(facts(repositories=repos)) if a.rule is RuleId.STORAGE_QUOTA]
    assert [a.subject for a in alerts] == ["a", "c"]
    assert len({a.key for a in alerts}) == 2
    assert rules(facts(repositories=repos), AlertThresholds(storage_percent=99.5)) == []


# -- slow backup -------------------------------------------------------------------


def history(*minutes: float) -> list[BackupRun]:
    return [run(OK, hours_ago=6 * (i + 2), minutes=m) for i, m in enumerate(minutes)]


def slow(newest: BackupRun, past: list[BackupRun],
         limits: AlertThresholds | None = None) -> list[dict[str, object]]:
    return [dict(a.values) for a in evaluate(facts(newest, *past), limits)
            if a.rule is RuleId.SLOW_BACKUP]


def test_slow_backup_fires_above_factor_times_median() -> None:
    past = history(10, 12, 11, 50)  # median 11.5 min; one outlier does not move it much
    (values,) = slow(run(OK, 1, minutes=24), past)
    assert values["median_seconds"] == 11.5 * 60
    assert values["duration_seconds"] == 24 * 60
    assert values["runs_considered"] == 4
    assert values["running"] is False
    assert slow(run(OK, 1, minutes=23), past) == []  # exactly 2x is not "over"


def test_slow_backup_needs_three_successful_runs() -> None:
    assert slow(run(OK, 1, minutes=100), history(10, 10)) == []
    assert slow(run(OK, 1, minutes=100), [*history(10, 10), run(FAIL, 30, 1)]) == []
    assert len(slow(run(OK, 1, minutes=100), history(10, 10, 10))) == 1
    assert slow(run(OK, 1, minutes=100), history(10, 10, 10),
                AlertThresholds(duration_min_runs=4)) == []


def test_slow_backup_uses_only_the_window_of_recent_runs() -> None:
    # the 10 newest successes take 10 min; older ones took 60 min
    past = history(*([10] * 10 + [60] * 20))
    (values,) = slow(run(OK, 1, minutes=25), past)
    assert values["median_seconds"] == 600
    assert values["runs_considered"] == 10
    assert len(slow(run(OK, 1, minutes=25), past, AlertThresholds(duration_window=30))) == 0


def test_slow_backup_catches_a_run_still_in_progress() -> None:
    running = BackupRun(RUNNING, started=NOW - timedelta(minutes=45))
    (values,) = slow(running, history(10, 10, 10))
    assert values["running"] is True and values["duration_seconds"] == 45 * 60
    assert slow(BackupRun(RUNNING, started=NOW - timedelta(minutes=15)), history(10, 10, 10)) == []


def test_slow_backup_ignores_failed_newest_and_skips_cancelled() -> None:
    assert slow(run(FAIL, 1, minutes=500), history(10, 10, 10)) == []
    cancelled = run(CANCELLED, 0.5, minutes=1)
    assert len(slow(cancelled, [run(OK, 1, minutes=50), *history(10, 10, 10)])) == 1


def test_slow_backup_explicit_duration_wins_over_timestamps() -> None:
    newest = BackupRun(OK, started=NOW - timedelta(hours=5), finished=NOW,
                       duration=timedelta(minutes=5))
    assert slow(newest, history(10, 10, 10)) == []


def test_slow_backup_zero_median_does_not_divide_or_fire() -> None:
    assert slow(run(OK, 1, minutes=5), history(0, 0, 0)) == []


# -- integrity -------------------------------------------------------------------------


def test_integrity_failure_uses_the_latest_result_per_kind_and_repository() -> None:
    results = (
        IntegrityResult("check", ok=False, at=NOW - timedelta(days=2), message="pack damaged",
                        repository="main"),
        IntegrityResult("check", ok=True, at=NOW - timedelta(days=1), repository="main"),
        IntegrityResult("drill", ok=True, at=NOW - timedelta(days=3), repository="main"),
        IntegrityResult("drill", ok=False, at=NOW - timedelta(hours=1), repository="main",
                        message="row count of posts differs"),
        IntegrityResult("check", ok=False, at=NOW - timedelta(hours=2), repository="s3",
                        message="blob 1a2b missing"),
    )
    alerts = [a for a in evaluate(facts(integrity=results)) if a.rule is RuleId.INTEGRITY_FAILURE]
    assert [a.subject for a in alerts] == ["check:s3", "drill:main"]
    assert alerts[0].values["message"] == "blob 1a2b missing"
    assert alerts[1].summary == "drill of repository main for blog failed: row count of posts differs"
    assert all(a.severity is Severity.CRITICAL for a in alerts)


def test_integrity_without_repository_name() -> None:
    results = (IntegrityResult("check", ok=False, at=NOW),)
    (alert,) = [a for a in evaluate(facts(integrity=results))]
    assert alert.subject == "check"
    assert alert.summary == "check for blog failed: no detail"


# -- RPO ---------------------------------------------------------------------------------


def test_rpo_exceeded_by_site_rpo_and_default() -> None:
    f = facts(last_success=NOW - timedelta(hours=7), rpo=timedelta(hours=6))
    (alert,) = evaluate(f)
    assert alert.rule is RuleId.RPO_EXCEEDED
    assert alert.values["age_seconds"] == 7 * 3600
    assert alert.values["rpo_seconds"] == 6 * 3600
    assert "7.0h ago, beyond the RPO of 6.0h" in alert.summary
    assert rules(facts(last_success=NOW - timedelta(hours=6), rpo=timedelta(hours=6))) == []
    # without a site RPO, the default (24 h) applies
    assert rules(facts(last_success=NOW - timedelta(hours=23))) == []
    assert rules(facts(last_success=NOW - timedelta(hours=25))) == ["rpo_exceeded"]
    assert rules(facts(last_success=NOW - timedelta(days=9)), AlertThresholds(rpo=None)) == []


def test_rpo_uses_newest_success_from_runs_too() -> None:
    f = facts(run(OK, 2), last_success=NOW - timedelta(days=3))
    assert rules(f) == []


def test_rpo_for_a_site_that_never_succeeded() -> None:
    young = facts(last_success=None, monitored_since=NOW - timedelta(hours=2))
    assert rules(young) == []
    old = facts(last_success=None, monitored_since=NOW - timedelta(hours=30))
    (alert,) = evaluate(old)
    assert alert.values["last_success"] is None and alert.values["age_seconds"] == 30 * 3600
    assert "no successful backup of blog on record" in alert.summary
    (unknown,) = evaluate(facts(last_success=None))
    assert unknown.rule is RuleId.RPO_EXCEEDED and unknown.values["age_seconds"] is None


# -- all together ---------------------------------------------------------------------------


# -- capture lag -----------------------------------------------------------------


def cap(shipped_s: float | None = None, reported_s: float | None = None, source: str = "db") -> CaptureState:
    """A capture that shipped ``shipped_s`` and reported ``reported_s`` seconds before NOW."""
    def ago(s: float | None) -> datetime | None:
        return None if s is None else NOW - timedelta(seconds=s)
    return CaptureState(source, last_shipped=ago(shipped_s), reported=ago(reported_s))


@pytest.mark.parametrize(
    ("state", "fires"),
    [
        (cap(shipped_s=5, reported_s=1), False),
        (cap(shipped_s=60, reported_s=60), False),  # at the limit: still within
        (cap(shipped_s=61, reported_s=61), True),
        (cap(shipped_s=3600, reported_s=2), False),  # no writes, but the capture says it is alive
        (cap(shipped_s=3600, reported_s=300), True),  # stopped reporting
        (cap(shipped_s=30, reported_s=None), False),
    ],
)
def test_capture_lag_against_the_default_capture_rpo(state: CaptureState, fires: bool) -> None:
    found = [a for a in evaluate(facts(captures=(state,))) if a.rule is RuleId.CAPTURE_LAG]
    assert bool(found) is fires
    if fires:
        assert found[0].subject == "db" and found[0].severity is Severity.CRITICAL
        assert found[0].values["lag_seconds"] == state.lag(NOW).total_seconds()  # type: ignore[union-attr]
        assert "db" in found[0].summary and "behind" in found[0].summary


def test_capture_lag_is_configurable_and_one_alert_per_source() -> None:
    f = facts(captures=(cap(10, 10, "a"), cap(200, 200, "b"), cap(400, 400, "c")))
    assert [a.subject for a in evaluate(f) if a.rule is RuleId.CAPTURE_LAG] == ["b", "c"]
    tight = AlertThresholds(capture_rpo=timedelta(seconds=5))
    assert [a.subject for a in evaluate(f, tight) if a.rule is RuleId.CAPTURE_LAG] == ["a", "b", "c"]
    assert rules(f, AlertThresholds(capture_rpo=timedelta(0))) == []


def test_capture_that_never_reported() -> None:
    silent = (CaptureState("db"),)
    fired = evaluate(facts(captures=silent))
    assert [a.rule for a in fired] == [RuleId.CAPTURE_LAG] and "never reported" in fired[0].summary
    assert fired[0].values["lag_seconds"] is None
    fresh = facts(captures=silent, monitored_since=NOW - timedelta(seconds=30))
    assert rules(fresh) == []  # the capture has a capture RPO to start
    assert rules(facts(captures=silent, monitored_since=NOW - timedelta(minutes=5))) == ["capture_lag"]


def test_healthy_site_has_no_alerts() -> None:
    f = facts(run(OK, 1), *history(10, 11, 12),
              repositories=(RepositoryUsage("main", 10, 100),),
              integrity=(IntegrityResult("check", True, NOW),))
    assert evaluate(f) == []


def test_everything_fires_at_once_sorted_and_unique() -> None:
    f = facts(
        BackupRun(RUNNING, started=NOW - timedelta(hours=3)),
        run(FAIL, 4), run(FAIL, 5), *history(10, 10, 10),
        last_success=NOW - timedelta(days=2), rpo=timedelta(hours=6),
        repositories=(RepositoryUsage("main", 99, 100),),
        integrity=(IntegrityResult("drill", False, NOW, "boom"),),
        captures=(CaptureState("db", last_shipped=NOW - timedelta(hours=1)),),
    )
    alerts = evaluate(f)
    assert sorted(a.rule.value for a in alerts) == sorted(r.value for r in RuleId)
    assert [str(a.key) for a in alerts] == sorted(str(a.key) for a in alerts)
    only = AlertThresholds(disabled=frozenset(set(RuleId) - {RuleId.STORAGE_QUOTA}))
    assert rules(f, only) == ["storage_quota"]


def test_evaluate_is_deterministic() -> None:
    f = facts(run(FAIL, 1), run(FAIL, 2), repositories=(RepositoryUsage("a", 9, 10),))
    assert evaluate(f) == evaluate(f)
    assert {a.key for a in evaluate(f)} == {a.key for a in evaluate(f)}


def test_every_rule_is_registered_once_and_can_be_disabled() -> None:
    assert sorted(r.id for r in RULES) == sorted(RuleId)
    f = facts(run(FAIL, 1), run(FAIL, 2), repositories=(RepositoryUsage("a", 9, 10),))
    assert evaluate(f, AlertThresholds(disabled=frozenset(RuleId))) == []
    assert {a.severity for a in evaluate(f)} == {r.severity for r in RULES if r.id in {a.rule for a in evaluate(f)}}
