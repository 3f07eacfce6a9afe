"""Alert rules: which conditions hold for a site right now.

This module is pure: :func:`evaluate` looks at a :class:`SiteFacts` (what the
catalog and the repositories know about one site at one instant) and returns
the alerts whose condition holds.  It keeps no memory; de-duplication and
"resolved" messages are :mod:`sitesnap.runtime.alerts.state`'s job, so the
rules can be tested exhaustively with plain values and fed from any source.

The five rules (DESIGN.md §9):

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
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

__all__ = [
    "RULES",
    "RULE_SEVERITY",
    "Alert",
    "AlertKey",
    "AlertThresholds",
    "BackupRun",
    "IntegrityResult",
    "RepositoryUsage",
    "Rule",
    "RuleId",
    "RunStatus",
    "Severity",
    "SiteFacts",
    "evaluate",
]


class RuleId(StrEnum):
    """The rules sitesnap knows; the value is the stable id used in state and messages."""

    CONSECUTIVE_FAILURES = "consecutive_failures"
    STORAGE_QUOTA = "storage_quota"
    SLOW_BACKUP = "slow_backup"
    INTEGRITY_FAILURE = "integrity_failure"
    RPO_EXCEEDED = "rpo_exceeded"


class Severity(StrEnum):
    """How urgent an alert is; routes compare severities with :meth:`rank`."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


class RunStatus(StrEnum):
    """Outcome of one backup run as the rules see it."""

    SUCCESS = "success"
    FAILED = "failed"
    RUNNING = "running"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class BackupRun:
    """One backup run.  ``duration`` defaults to ``finished - started``."""

    status: RunStatus
    started: datetime
    finished: datetime | None = None
    duration: timedelta | None = None

    def elapsed(self, now: datetime) -> timedelta | None:
        """How long the run took, or has taken so far if still running."""
        if self.duration is not None:
            return self.duration
        if self.finished is not None:
            return self.finished - self.started
        if self.status is RunStatus.RUNNING:
            return now - self.started
        return None


@dataclass(frozen=True)
class RepositoryUsage:
    """Space a repository uses and may use.  Sizes in bytes; ``None`` means unknown."""

    name: str
    used_bytes: int
    quota_bytes: int | None = None
    free_bytes: int | None = None


@dataclass(frozen=True)
class IntegrityResult:
    """The latest ``check`` or ``drill`` outcome for one repository."""

    kind: str  # "check" or "drill"
    ok: bool
    at: datetime
    message: str = ""
    repository: str = ""


@dataclass(frozen=True)
class SiteFacts:
    """Everything the rules need to know about one site at ``now``.

    ``runs`` are the recent backup runs, newest first.  ``last_success`` is the
    finish time of the newest successful backup even if it is older than the
    runs given.  ``monitored_since`` starts the RPO clock for a site that never
    had a successful backup (for example when it was created); without it, such
    a site is reported at once.  ``rpo`` overrides the threshold's default.
    """

    site: str
    now: datetime
    runs: tuple[BackupRun, ...] = ()
    last_success: datetime | None = None
    repositories: tuple[RepositoryUsage, ...] = ()
    integrity: tuple[IntegrityResult, ...] = ()
    rpo: timedelta | None = None
    console_url: str | None = None
    monitored_since: datetime | None = None


@dataclass(frozen=True)
class AlertThresholds:
    """Configurable limits; the defaults are the ones DESIGN.md §9 names."""

    consecutive_failures: int = 2
    storage_percent: float = 80.0
    duration_factor: float = 2.0
    duration_window: int = 10
    duration_min_runs: int = 3
    rpo: timedelta | None = timedelta(hours=24)
    disabled: frozenset[RuleId] = frozenset()


@dataclass(frozen=True)
class AlertKey:
    """Identity of an alert across evaluations: site, rule and subject (e.g. a repository)."""

    site: str
    rule: str
    subject: str = ""

    def __str__(self) -> str:
        return "/".join(p for p in (self.site, self.rule, self.subject) if p)


@dataclass(frozen=True, eq=False)
class Alert:
    """One firing condition.  ``values`` holds JSON-friendly numbers and strings."""

    site: str
    rule: RuleId
    severity: Severity
    summary: str
    values: Mapping[str, Any] = field(default_factory=dict)
    subject: str = ""
    console_url: str | None = None

    @property
    def key(self) -> AlertKey:
        return AlertKey(self.site, self.rule.value, self.subject)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Alert):
            return NotImplemented
        return (self.key, self.severity, self.summary, dict(self.values), self.console_url) == (
            other.key, other.severity, other.summary, dict(other.values), other.console_url
        )

    def __hash__(self) -> int:
        return hash(self.key)


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
)
RULE_SEVERITY: Mapping[RuleId, Severity] = {rule.id: rule.severity for rule in RULES}
