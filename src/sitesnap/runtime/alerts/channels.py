"""Alert channels, routing, and the test message.

A channel is anything with ``name`` and ``send(notification)``; ``send``
either delivers or raises :class:`NotificationError` with a one-line reason,
and never waits longer than the channel's ``timeout`` per network operation.
The built-in channels are email (:mod:`.smtp`) and the HTTP formats
(:mod:`.webhooks`: generic JSON, Slack, DingTalk, WeCom), re-exported here.

:class:`Router` picks the channels for a notification by site and minimum
severity; :func:`send_test` sends a test message (``sitesnap alert test``).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Protocol

from sitesnap.runtime.alerts.rules import Severity
from sitesnap.runtime.alerts.smtp import EmailChannel
from sitesnap.runtime.alerts.state import Notification, NotificationKind
from sitesnap.runtime.alerts.webhooks import (
    DingTalkChannel,
    SlackChannel,
    WebhookChannel,
    WeComChannel,
    dingtalk_sign,
    dingtalk_signed_url,
)

__all__ = [
    "Channel",
    "DingTalkChannel",
    "EmailChannel",
    "Route",
    "Router",
    "SlackChannel",
    "WeComChannel",
    "WebhookChannel",
    "dingtalk_sign",
    "dingtalk_signed_url",
    "probe_notification",
    "send_test",
]


class Channel(Protocol):
    """Anything that can deliver a notification; raises NotificationError on failure."""

    name: str

    def send(self, notification: Notification) -> None: ...


@dataclass(frozen=True)
class Route:
    """Send notifications of ``sites`` (globs; ``None`` = all) at ``min_severity`` or above."""

    channel: Channel
    sites: tuple[str, ...] | None = None
    min_severity: Severity = Severity.INFO

    def matches(self, site: str, severity: Severity) -> bool:
        if severity.rank < self.min_severity.rank:
            return False
        return self.sites is None or any(fnmatch.fnmatchcase(site, p) for p in self.sites)


class Router:
    """Chooses channels per notification; a channel reached by two routes is used once."""

    def __init__(self, routes: Iterable[Route] = ()) -> None:
        self.routes = tuple(routes)

    def channels_for(self, notification: Notification) -> list[Channel]:
        chosen: list[Channel] = []
        for route in self.routes:
            if route.matches(notification.site, notification.severity) and not any(
                route.channel is c for c in chosen
            ):
                chosen.append(route.channel)
        return chosen

    @property
    def channels(self) -> list[Channel]:
        """Every distinct channel, in route order (for ``sitesnap alert test``)."""
        out: list[Channel] = []
        for route in self.routes:
            if not any(route.channel is c for c in out):
                out.append(route.channel)
        return out


def probe_notification(site: str = "sitesnap", console_url: str | None = None,
                      now: datetime | None = None) -> Notification:
    """The message ``sitesnap alert test`` sends."""
    at = now or datetime.now(UTC)
    return Notification(
        kind=NotificationKind.TEST, site=site, rule="test", severity=Severity.INFO,
        summary="sitesnap alert test: this channel works / 告警通道测试成功",
        at=at, since=at, values={"channel": "test"}, console_url=console_url,
    )


def send_test(channel: Channel, *, site: str = "sitesnap", console_url: str | None = None,
              now: datetime | None = None) -> Notification:
    """Send a test notification through ``channel``; raises NotificationError on failure."""
    note = replace(probe_notification(site, console_url, now), values={"channel": channel.name})
    channel.send(note)
    return note
