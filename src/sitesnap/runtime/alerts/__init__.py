"""Alerts: pure rules, de-duplicating state, delivery channels, and the service tying them.

::

    SiteFacts ──rules.evaluate──▶ [Alert] ──state.transition──▶ [Notification]
                                                    │                 │
                                              StateStore       Router ─▶ channels

Import from the submodules; this package re-exports the names the rest of
sitesnap uses.
"""

from __future__ import annotations

from sitesnap.runtime.alerts.channels import (
    Channel,
    DingTalkChannel,
    EmailChannel,
    Route,
    Router,
    SlackChannel,
    WebhookChannel,
    WeComChannel,
    send_test,
)
from sitesnap.runtime.alerts.rules import (
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
    evaluate,
)
from sitesnap.runtime.alerts.service import evaluate_and_notify
from sitesnap.runtime.alerts.state import (
    AlertState,
    JsonFileStateStore,
    MemoryStateStore,
    Notification,
    NotificationKind,
    StateStore,
)

__all__ = [
    "Alert",
    "AlertKey",
    "AlertState",
    "AlertThresholds",
    "BackupRun",
    "CaptureState",
    "Channel",
    "DingTalkChannel",
    "EmailChannel",
    "IntegrityResult",
    "JsonFileStateStore",
    "MemoryStateStore",
    "Notification",
    "NotificationKind",
    "RepositoryUsage",
    "Route",
    "Router",
    "RuleId",
    "RunStatus",
    "Severity",
    "SiteFacts",
    "SlackChannel",
    "StateStore",
    "WeComChannel",
    "WebhookChannel",
    "evaluate",
    "evaluate_and_notify",
    "send_test",
]
