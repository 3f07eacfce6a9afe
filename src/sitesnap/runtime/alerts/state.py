"""Alert state: turn "what fires now" into "what to tell people".

:func:`transition` is pure: given the remembered state of one site's alerts and
the alerts firing now, it returns the notifications to send and the state to
remember.  A condition produces one ``firing`` notification when it appears,
nothing while it persists (unless a re-notify interval is set), and one
``resolved`` notification when it clears.  A ``firing`` notification that no
channel accepted is tried again on the next evaluation, so an SMTP outage
does not swallow an alert.

The state lives behind the small :class:`StateStore` protocol:
:class:`MemoryStateStore` for tests and one-shot runs, :class:`JsonFileStateStore`
for the embedded scheduler; the catalog implements the same protocol.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from sitesnap.errors import ConfigError
from sitesnap.runtime.alerts.rules import Alert, AlertKey, Severity

__all__ = [
    "AlertState",
    "Delivery",
    "JsonFileStateStore",
    "MemoryStateStore",
    "Notification",
    "NotificationKind",
    "StateStore",
    "Transition",
    "transition",
]


class NotificationKind(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"
    TEST = "test"


@dataclass(frozen=True)
class Delivery:
    """The outcome of handing one notification to one channel."""

    channel: str
    ok: bool
    error: str = ""


@dataclass(frozen=True)
class Notification:
    """A message about one alert, ready for any channel.

    ``since`` is when the condition first fired; ``repeat`` marks a reminder
    for a condition already announced.  ``deliveries`` is filled in by the
    service after sending.
    """

    kind: NotificationKind
    site: str
    rule: str
    severity: Severity
    summary: str
    at: datetime
    since: datetime
    values: Mapping[str, Any] = field(default_factory=dict)
    subject: str = ""
    console_url: str | None = None
    repeat: bool = False
    deliveries: tuple[Delivery, ...] = ()

    @property
    def key(self) -> AlertKey:
        return AlertKey(self.site, self.rule, self.subject)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape posted by the generic webhook channel."""
        return {
            "kind": self.kind.value,
            "site": self.site,
            "rule": self.rule,
            "subject": self.subject,
            "severity": self.severity.value,
            "summary": self.summary,
            "values": dict(self.values),
            "at": self.at.isoformat(),
            "since": self.since.isoformat(),
            "repeat": self.repeat,
            "console_url": self.console_url,
        }


@dataclass(frozen=True)
class AlertState:
    """What is remembered about one firing alert.

    ``last_notified`` is ``None`` while no channel has accepted the ``firing``
    notification yet.  Severity, summary and values are kept so the
    ``resolved`` message can say what cleared.
    """

    key: AlertKey
    firing_since: datetime
    last_notified: datetime | None
    severity: Severity
    summary: str
    values: Mapping[str, Any] = field(default_factory=dict)
    console_url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "site": self.key.site,
            "rule": self.key.rule,
            "subject": self.key.subject,
            "firing_since": self.firing_since.isoformat(),
            "last_notified": None if self.last_notified is None else self.last_notified.isoformat(),
            "severity": self.severity.value,
            "summary": self.summary,
            "values": dict(self.values),
            "console_url": self.console_url,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AlertState:
        notified = data.get("last_notified")
        return cls(
            key=AlertKey(data["site"], data["rule"], data.get("subject", "")),
            firing_since=datetime.fromisoformat(data["firing_since"]),
            last_notified=None if notified is None else datetime.fromisoformat(notified),
            severity=Severity(data["severity"]),
            summary=data.get("summary", ""),
            values=dict(data.get("values") or {}),
            console_url=data.get("console_url"),
        )


@dataclass(frozen=True)
class Transition:
    """Result of :func:`transition`: what to send and what to remember.

    ``updates`` maps a key to its new state, or to ``None`` to forget it.
    """

    notifications: list[Notification]
    updates: dict[AlertKey, AlertState | None]


def transition(
    previous: Mapping[AlertKey, AlertState],
    firing: Iterable[Alert],
    now: datetime,
    *,
    renotify_after: timedelta | None = None,
) -> Transition:
    """Compare remembered state with the alerts firing now (one site's, or several).

    The returned states assume every notification will be delivered; the
    service marks a ``firing`` state as not notified (``last_notified=None``)
    when no channel accepted it.  Pure: no IO, no clock.
    """
    current = {alert.key: alert for alert in firing}
    notes: list[Notification] = []
    updates: dict[AlertKey, AlertState | None] = {}
    for key, alert in current.items():
        old = previous.get(key)
        state = _state_for(alert, old, now)
        if old is None or old.last_notified is None:
            notes.append(_notification(NotificationKind.FIRING, alert, state.firing_since, now))
            state = replace(state, last_notified=now)
        elif renotify_after is not None and now - old.last_notified >= renotify_after:
            notes.append(_notification(NotificationKind.FIRING, alert, state.firing_since, now,
                                       repeat=True))
            state = replace(state, last_notified=now)
        if state != old:
            updates[key] = state
    for key, old in previous.items():
        if key in current:
            continue
        updates[key] = None
        if old.last_notified is not None:  # never announced: nothing to resolve
            notes.append(_resolved(old, now))
    return Transition(notes, updates)


def _state_for(alert: Alert, old: AlertState | None, now: datetime) -> AlertState:
    return AlertState(
        key=alert.key,
        firing_since=old.firing_since if old is not None else now,
        last_notified=old.last_notified if old is not None else None,
        severity=alert.severity,
        summary=alert.summary,
        values=dict(alert.values),
        console_url=alert.console_url,
    )


def _notification(kind: NotificationKind, alert: Alert, since: datetime, now: datetime,
                  *, repeat: bool = False) -> Notification:
    return Notification(
        kind=kind, site=alert.site, rule=alert.rule.value, severity=alert.severity,
        summary=alert.summary, at=now, since=since, values=dict(alert.values),
        subject=alert.subject, console_url=alert.console_url, repeat=repeat,
    )


def _resolved(old: AlertState, now: datetime) -> Notification:
    return Notification(
        kind=NotificationKind.RESOLVED, site=old.key.site, rule=old.key.rule, severity=old.severity,
        summary=f"resolved: {old.summary}", at=now, since=old.firing_since,
        values=dict(old.values), subject=old.key.subject, console_url=old.console_url,
    )


class StateStore(Protocol):
    """Where alert state lives between evaluations.

    Implementations must make ``set_state`` durable before returning; a
    ``None`` state forgets the key.  They need not be thread-safe unless they
    say so.
    """

    def get_states(self, site: str) -> dict[AlertKey, AlertState]: ...

    def set_state(self, key: AlertKey, state: AlertState | None) -> None: ...


class MemoryStateStore:
    """Alert state in a dict; thread-safe; lost when the process ends."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._states: dict[AlertKey, AlertState] = {}

    def get_states(self, site: str) -> dict[AlertKey, AlertState]:
        with self._lock:
            return {k: v for k, v in self._states.items() if k.site == site}

    def set_state(self, key: AlertKey, state: AlertState | None) -> None:
        with self._lock:
            if state is None:
                self._states.pop(key, None)
            else:
                self._states[key] = state


class JsonFileStateStore:
    """Alert state in one JSON file, rewritten atomically (temp file, fsync, rename).

    Thread-safe within a process; one process should own the file (the
    scheduler does).  A damaged file raises :class:`ConfigError` naming it.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def get_states(self, site: str) -> dict[AlertKey, AlertState]:
        with self._lock:
            return {k: v for k, v in self._load().items() if k.site == site}

    def set_state(self, key: AlertKey, state: AlertState | None) -> None:
        with self._lock:
            states = self._load()
            if state is None:
                if states.pop(key, None) is None:
                    return
            else:
                states[key] = state
            self._save(states)

    def _load(self) -> dict[AlertKey, AlertState]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            items = [AlertState.from_dict(item) for item in raw["alerts"]]
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(
                f"alert state file {self.path} is unreadable: {exc}",
                hint="Delete it; alerts that still fire will be sent again.",
            ) from None
        return {s.key: s for s in items}

    def _save(self, states: Mapping[AlertKey, AlertState]) -> None:
        data = {"version": 1, "alerts": [s.to_dict() for s in states.values()]}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".alerts-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh, indent=1, sort_keys=True)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
