"""What the alert rules look at and what they return: plain frozen values, no IO.

:class:`SiteFacts` is one site at one instant (filled by
:mod:`sitesnap.runtime.facts` from the catalog); :class:`AlertThresholds`
holds the configured limits; :class:`Alert` is one firing condition,
identified across evaluations by its :class:`AlertKey`.  The rules
themselves are :mod:`.rules`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sitesnap.config.alerts import RuleId

__all__ = [
    "Alert",
    "AlertKey",
    "AlertThresholds",
    "BackupRun",
    "CaptureState",
    "IntegrityResult",
    "RepositoryUsage",
    "RuleId",
    "RunStatus",
    "Severity",
    "SiteFacts",
]


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
class CaptureState:
    """One continuous source's capture as last reported (all ``None``: it never reported).

    ``last_shipped`` is the newest commit time shipped; ``reported`` is when
    the capture last said it was alive (with or without a new segment).
    """

    source: str
    last_shipped: datetime | None = None
    reported: datetime | None = None
    oldest_restorable: datetime | None = None
    segments_total: int = 0

    def lag(self, now: datetime) -> timedelta | None:
        """How far behind ``now`` the capture is: since the later of its newest commit and its last report."""
        seen = [t for t in (self.last_shipped, self.reported) if t is not None]
        return now - max(seen) if seen else None


@dataclass(frozen=True)
class SiteFacts:
    """Everything the rules need to know about one site at ``now``.

    ``runs`` are the recent backup runs, newest first.  ``last_success`` is the
    finish time of the newest successful backup even if it is older than the
    runs given.  ``monitored_since`` starts the RPO clock for a site that never
    had a successful backup (for example when it was created); without it, such
    a site is reported at once.  ``rpo`` overrides the threshold's default.
    ``captures`` has one entry per continuous source, reported or not.
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
    captures: tuple[CaptureState, ...] = ()


@dataclass(frozen=True)
class AlertThresholds:
    """Configurable limits; the defaults are the ones DESIGN.md §9 names."""

    consecutive_failures: int = 2
    storage_percent: float = 80.0
    duration_factor: float = 2.0
    duration_window: int = 10
    duration_min_runs: int = 3
    rpo: timedelta | None = timedelta(hours=24)
    capture_rpo: timedelta = timedelta(seconds=60)
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
