"""Alert rules: which conditions hold for a site right now.

This module is pure: :func:`evaluate` looks at a :class:`SiteFacts` (what the
catalog and the repositories know about one site at one instant) and returns
the alerts whose condition holds.  It keeps no memory; de-duplication and
"resolved" messages are :mod:`sitesnap.runtime.alerts.state`'s job, so the
rules can be tested exhaustively with plain values and fed from any source.

The six rules (DESIGN.md §9, §13):

``consecutive_failures``
    The newest finished backups failed at least ``consecutive_failures`` times
    in a row (runs still in progress and cancelled runs are skipped).
``storage_quota``
    A repository uses more than ``storage_percent`` of its quota, or, without
    a quota, of the space it can grow into (its used bytes plus the free disk).
    One alert per repository.
``slow_backup``
    The newest backup (finished successfully, or still running) takes longer
    than ``duration_factor`` times the median of the previous successful runs
    (at most ``duration_window`` of them, at least ``duration_min_runs``).
``integrity_failure``
    The latest ``check`` or ``drill`` result failed.  One alert per kind and
    repository.
``rpo_exceeded``
    No successful backup within the recovery point objective.
``capture_lag``
    A continuous source's capture lags more than ``capture_rpo`` behind now
    (its newest shipped commit and its last report are both older), or never
    reported although the site has been monitored that long.  One alert per
    source; it resolves when the capture catches up.

The values the rules read and return are :mod:`.model`'s.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sitesnap.runtime.alerts.model import (
    Alert,
    AlertKey,
    AlertThresholds,
    BackupRun,
    CaptureState,
    IntegrityResult,
    RepositoryUsage,
    RuleId,
    RunStatus,
    Severity,
    SiteFacts,
)

__all__ = [
    "RULES",
    "RULE_SEVERITY",
    "Alert",
    "AlertKey",
    "AlertThresholds",
    "BackupRun",
    "CaptureState",
    "IntegrityResult",
    "RepositoryUsage",
    "Rule",
    "RuleId",
    "RunStatus",
    "Severity",
    "SiteFacts",
    "evaluate",
]


def evaluate(facts: SiteFacts, thresholds: AlertThresholds | None = None) -> list[Alert]:
    """Return the alerts firing for ``facts``, one per key, sorted by key.

    Pure and deterministic: the same facts give the same alerts.
    """
    limits = thresholds or AlertThresholds()
    alerts: list[Alert] = []
    for rule in RULES:
        if rule.id not in limits.disabled:
            alerts.extend(rule.check(facts, limits))
    unique = {alert.key: alert for alert in alerts}
    return [unique[key] for key in sorted(unique, key=str)]


def _alert(facts: SiteFacts, rule: RuleId, summary: str, values: dict[str, Any],
           subject: str = "") -> Alert:
    return Alert(
        site=facts.site,
        rule=rule,
        severity=RULE_SEVERITY[rule],
        summary=summary,
        values=values,
        subject=subject,
        console_url=facts.console_url,
    )


def _finished(runs: Iterable[BackupRun]) -> list[BackupRun]:
    return [r for r in runs if r.status in (RunStatus.SUCCESS, RunStatus.FAILED)]


def consecutive_failures(facts: SiteFacts, limits: AlertThresholds) -> list[Alert]:
    """Fire when the newest finished runs failed ``limits.consecutive_failures`` times in a row."""
    if limits.consecutive_failures < 1:
        return []
    streak = 0
    for run in _finished(facts.runs):
        if run.status is not RunStatus.FAILED:
            break
        streak += 1
    if streak < limits.consecutive_failures:
        return []
    summary = f"{streak} consecutive backups of {facts.site} failed"
    return [_alert(facts, RuleId.CONSECUTIVE_FAILURES, summary,
                   {"failures": streak, "threshold": limits.consecutive_failures})]


def storage_quota(facts: SiteFacts, limits: AlertThresholds) -> list[Alert]:
    """Fire per repository above ``limits.storage_percent`` of its quota or of its room to grow."""
    alerts = []
    for repo in facts.repositories:
        if repo.quota_bytes is not None and repo.quota_bytes > 0:
            capacity, basis = repo.quota_bytes, "quota"
        elif repo.free_bytes is not None:
            capacity, basis = repo.used_bytes + repo.free_bytes, "disk"
        else:
            continue
        percent = 100.0 * repo.used_bytes / capacity if capacity > 0 else 100.0
        if percent <= limits.storage_percent:
            continue
        summary = (f"repository {repo.name} of {facts.site} uses {percent:.1f}% of its {basis}"
                   f" (limit {limits.storage_percent:g}%)")
        values = {"repository": repo.name, "used_bytes": repo.used_bytes,
                  "capacity_bytes": capacity, "basis": basis,
                  "percent": round(percent, 2), "threshold_percent": limits.storage_percent}
        alerts.append(_alert(facts, RuleId.STORAGE_QUOTA, summary, values, subject=repo.name))
    return alerts


def slow_backup(facts: SiteFacts, limits: AlertThresholds) -> list[Alert]:
    """Fire when the newest backup runs longer than ``duration_factor`` × the recent median.

    The newest run is judged if it succeeded or is still running (a hung backup
    is the case worth catching early); failed runs are the other rule's job.
    The baseline is the successful runs before it, so a slow run does not
    raise its own bar.
    """
    live = [r for r in facts.runs if r.status is not RunStatus.CANCELLED]
    if not live or live[0].status not in (RunStatus.SUCCESS, RunStatus.RUNNING):
        return []
    newest = live[0]
    current = newest.elapsed(facts.now)
    history = [r.elapsed(facts.now) for r in live[1:] if r.status is RunStatus.SUCCESS]
    baseline = [d.total_seconds() for d in history if d is not None][: limits.duration_window]
    if current is None or len(baseline) < max(1, limits.duration_min_runs):
        return []
    median = statistics.median(baseline)
    seconds = current.total_seconds()
    if median <= 0 or seconds <= limits.duration_factor * median:
        return []
    state = "is still running after" if newest.status is RunStatus.RUNNING else "took"
    summary = (f"backup of {facts.site} {state} {_human(seconds)}, over "
               f"{limits.duration_factor:g}× the median {_human(median)}")
    values = {"duration_seconds": round(seconds, 3), "median_seconds": round(median, 3),
              "factor": limits.duration_factor, "runs_considered": len(baseline),
              "running": newest.status is RunStatus.RUNNING,
              "started": newest.started.isoformat()}
    return [_alert(facts, RuleId.SLOW_BACKUP, summary, values)]


def integrity_failure(facts: SiteFacts, limits: AlertThresholds) -> list[Alert]:
    """Fire for each (kind, repository) whose newest check or drill result failed."""
    latest: dict[tuple[str, str], IntegrityResult] = {}
    for result in facts.integrity:
        key = (result.kind, result.repository)
        if key not in latest or result.at > latest[key].at:
            latest[key] = result
    alerts = []
    for (kind, repo), result in sorted(latest.items()):
        if result.ok:
            continue
        where = f" of repository {repo}" if repo else ""
        summary = f"{kind}{where} for {facts.site} failed: {result.message or 'no detail'}"
        values = {"kind": kind, "repository": repo, "message": result.message,
                  "at": result.at.isoformat()}
        subject = f"{kind}:{repo}" if repo else kind
        alerts.append(_alert(facts, RuleId.INTEGRITY_FAILURE, summary, values, subject=subject))
    return alerts


def rpo_exceeded(facts: SiteFacts, limits: AlertThresholds) -> list[Alert]:
    """Fire when the newest successful backup is older than the RPO (site's, else the default)."""
    rpo = facts.rpo if facts.rpo is not None else limits.rpo
    if rpo is None or rpo <= timedelta(0):
        return []
    successes = [r.finished or r.started for r in facts.runs if r.status is RunStatus.SUCCESS]
    last = max([t for t in (facts.last_success, *successes) if t is not None], default=None)
    reference = last if last is not None else facts.monitored_since
    if reference is not None and facts.now - reference <= rpo:
        return []
    rpo_s = rpo.total_seconds()
    if last is None:
        summary = f"no successful backup of {facts.site} on record (RPO {_human(rpo_s)})"
        age = (facts.now - reference).total_seconds() if reference is not None else None
    else:
        age = (facts.now - last).total_seconds()
        summary = (f"last successful backup of {facts.site} was {_human(age)} ago, "
                   f"beyond the RPO of {_human(rpo_s)}")
    values = {"rpo_seconds": rpo_s, "age_seconds": None if age is None else round(age, 3),
              "last_success": None if last is None else last.isoformat()}
    return [_alert(facts, RuleId.RPO_EXCEEDED, summary, values)]


def capture_lag(facts: SiteFacts, limits: AlertThresholds) -> list[Alert]:
    """Fire per continuous source whose capture is silent or behind by more than ``capture_rpo``.

    A source that never reported is judged from ``monitored_since`` (fired at
    once without it), like a site without a successful backup.
    """
    limit = limits.capture_rpo
    if limit <= timedelta(0):
        return []
    alerts = []
    for cap in facts.captures:
        lag = cap.lag(facts.now)
        if lag is None and facts.monitored_since is not None:
            if facts.now - facts.monitored_since <= limit:
                continue
        elif lag is not None and lag <= limit:
            continue
        alerts.append(_capture_alert(facts, cap, lag, limit))
    return alerts


def _capture_alert(facts: SiteFacts, cap: CaptureState, lag: timedelta | None, limit: timedelta) -> Alert:
    rpo_s = limit.total_seconds()
    if lag is None:
        summary = f"capture of {facts.site}/{cap.source} never reported (capture RPO {_human(rpo_s)})"
    else:
        summary = (f"capture of {facts.site}/{cap.source} is {_human(lag.total_seconds())} behind, "
                   f"beyond the capture RPO of {_human(rpo_s)}")
    values = {"source": cap.source, "capture_rpo_seconds": rpo_s,
              "lag_seconds": None if lag is None else round(lag.total_seconds(), 3),
              "last_shipped_at": None if cap.last_shipped is None else cap.last_shipped.isoformat(),
              "last_report_at": None if cap.reported is None else cap.reported.isoformat()}
    return _alert(facts, RuleId.CAPTURE_LAG, summary, values, subject=cap.source)


def _human(seconds: float) -> str:
    """A short duration: ``45s``, ``12m``, ``3.5h``, ``2.0d``."""
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    if seconds < 172800:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


@dataclass(frozen=True)
class Rule:
    """One alert rule: its id, how urgent its alerts are, and the check that finds them."""

    id: RuleId
    severity: Severity
    check: Callable[[SiteFacts, AlertThresholds], list[Alert]]


# The rules, in evaluation order: a new rule is its RuleId, its check function and one entry here.
RULES: tuple[Rule, ...] = (
    Rule(RuleId.CONSECUTIVE_FAILURES, Severity.CRITICAL, consecutive_failures),
    Rule(RuleId.STORAGE_QUOTA, Severity.WARNING, storage_quota),
    Rule(RuleId.SLOW_BACKUP, Severity.WARNING, slow_backup),
    Rule(RuleId.INTEGRITY_FAILURE, Severity.CRITICAL, integrity_failure),
    Rule(RuleId.RPO_EXCEEDED, Severity.CRITICAL, rpo_exceeded),
    Rule(RuleId.CAPTURE_LAG, Severity.CRITICAL, capture_lag),
)
RULE_SEVERITY: Mapping[RuleId, Severity] = {rule.id: rule.severity for rule in RULES}
