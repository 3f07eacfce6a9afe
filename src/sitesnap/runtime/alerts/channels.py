"""Alert channels: email (SMTP), generic JSON webhook, Slack, DingTalk, WeCom.

Each channel is a small class with ``name`` and ``send(notification)``.
``send`` either delivers or raises :class:`NotificationError` with a one-line
reason; it never hangs longer than the channel's ``timeout`` per network
operation.  Error messages never contain passwords, tokens or signing secrets
(webhook URLs carry tokens, so only their scheme and host are shown).

:class:`Router` picks the channels for a notification by site and minimum
severity; :func:`send_test` sends a test message (``sitesnap alert test``).
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import hmac
import json
import smtplib
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any, Literal, Protocol

from sitesnap.errors import ConfigError, NotificationError
from sitesnap.runtime.alerts.message import render_html, render_markdown, render_text, title
from sitesnap.runtime.alerts.rules import Severity
from sitesnap.runtime.alerts.state import Notification, NotificationKind

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

DEFAULT_TIMEOUT = 10.0
_USER_AGENT = "sitesnap-alerts"


class Channel(Protocol):
    """Anything that can deliver a notification; raises NotificationError on failure."""

    name: str

    def send(self, notification: Notification) -> None: ...


# -- HTTP ---------------------------------------------------------------------


def _where(url: str) -> str:
    """The URL without path, query or credentials: safe to show in errors."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")


def post_json(
    url: str,
    payload: Mapping[str, Any],
    *,
    timeout: float,
    headers: Mapping[str, str] | None = None,
    ssl_context: ssl.SSLContext | None = None,
    channel: str = "webhook",
) -> bytes:
    """POST ``payload`` as UTF-8 JSON and return the response body.

    Raises NotificationError for connection errors, timeouts and non-2xx answers.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{channel}: not an http(s) URL: {_where(url)}")
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    request = urllib.request.Request(url, data=body, method="POST")
    request.add_header("Content-Type", "application/json; charset=utf-8")
    request.add_header("User-Agent", _USER_AGENT)
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=ssl_context) as response:
            data: bytes = response.read()
            return data
    except urllib.error.HTTPError as exc:
        detail = exc.read(200).decode("utf-8", "replace").strip()
        raise NotificationError(
            f"{channel}: {_where(url)} answered HTTP {exc.code}" + (f": {detail}" if detail else "")
        ) from None
    except urllib.error.URLError as exc:
        raise NotificationError(f"{channel}: cannot reach {_where(url)}: {exc.reason}") from None
    except TimeoutError:
        raise NotificationError(
            f"{channel}: {_where(url)} did not answer within {timeout:g}s"
        ) from None
    except OSError as exc:
        raise NotificationError(f"{channel}: {_where(url)}: {exc}") from None


def _check_errcode(body: bytes, channel: str) -> None:
    """DingTalk and WeCom answer HTTP 200 with ``{"errcode": N, "errmsg": ...}``."""
    try:
        answer = json.loads(body)
    except ValueError:
        raise NotificationError(f"{channel}: unexpected answer: {body[:200]!r}") from None
    code = answer.get("errcode") if isinstance(answer, dict) else None
    if code != 0:
        message = answer.get("errmsg", "") if isinstance(answer, dict) else ""
        raise NotificationError(f"{channel}: rejected (errcode {code}): {message}")


@dataclass
class WebhookChannel:
    """POST :meth:`Notification.to_dict` as JSON to ``url``; any 2xx answer is success."""

    url: str
    headers: Mapping[str, str] | None = None
    timeout: float = DEFAULT_TIMEOUT
    name: str = "webhook"
    ssl_context: ssl.SSLContext | None = None

    def send(self, notification: Notification) -> None:
        post_json(self.url, notification.to_dict(), timeout=self.timeout, headers=self.headers,
                  ssl_context=self.ssl_context, channel=self.name)


def slack_payload(n: Notification) -> dict[str, Any]:
    """A Slack incoming-webhook message: ``text`` fallback plus one mrkdwn section."""
    lines = [f"*{title(n)}*", n.summary]
    lines += [f"• {k}: `{v}`" for k, v in n.values.items()]
    if n.console_url:
        lines.append(f"<{n.console_url}|Open console 打开控制台>")
    return {
        "text": f"{title(n)} — {n.summary}",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}}],
    }


@dataclass
class SlackChannel:
    """Slack incoming webhook (``https://hooks.slack.com/services/...``)."""

    url: str
    timeout: float = DEFAULT_TIMEOUT
    name: str = "slack"
    ssl_context: ssl.SSLContext | None = None

    def send(self, notification: Notification) -> None:
        post_json(self.url, slack_payload(notification), timeout=self.timeout,
                  ssl_context=self.ssl_context, channel=self.name)


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's robot signature: base64(HMAC-SHA256(secret, f"{timestamp}\\n{secret}")).

    The result is not yet URL-encoded; :func:`dingtalk_signed_url` does that.
    """
    to_sign = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode("utf-8"), to_sign, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def dingtalk_signed_url(url: str, secret: str, timestamp_ms: int) -> str:
    """Append ``&timestamp=...&sign=...`` (sign URL-encoded) to the robot's webhook URL."""
    sign = urllib.parse.quote_plus(dingtalk_sign(secret, timestamp_ms))
    joiner = "&" if urllib.parse.urlsplit(url).query else "?"
    return f"{url}{joiner}timestamp={timestamp_ms}&sign={sign}"


@dataclass
class DingTalkChannel:
    """DingTalk group robot, ``markdown`` message; signs requests when ``secret`` is set.

    ``url`` is the robot's webhook (``https://oapi.dingtalk.com/robot/send?access_token=...``).
    """

    url: str
    secret: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    name: str = "dingtalk"
    ssl_context: ssl.SSLContext | None = None

    def send(self, notification: Notification) -> None:
        url = self.url
        if self.secret:
            url = dingtalk_signed_url(url, self.secret, int(time.time() * 1000))
        payload = {
            "msgtype": "markdown",
            "markdown": {"title": title(notification), "text": render_markdown(notification)},
        }
        body = post_json(url, payload, timeout=self.timeout, ssl_context=self.ssl_context,
                         channel=self.name)
        _check_errcode(body, self.name)


@dataclass
class WeComChannel:
    """WeCom (企业微信) group robot, ``markdown`` message.

    ``url`` is the robot's webhook (``https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=...``).
    WeCom caps markdown content at 4096 bytes; longer messages are cut.
    """

    url: str
    timeout: float = DEFAULT_TIMEOUT
    name: str = "wecom"
    ssl_context: ssl.SSLContext | None = None

    def send(self, notification: Notification) -> None:
        content = render_markdown(notification).encode("utf-8")[:4096].decode("utf-8", "ignore")
        payload = {"msgtype": "markdown", "markdown": {"content": content}}
        body = post_json(self.url, payload, timeout=self.timeout, ssl_context=self.ssl_context,
                         channel=self.name)
        _check_errcode(body, self.name)


# -- email --------------------------------------------------------------------

SmtpSecurity = Literal["starttls", "ssl", "none"]
_DEFAULT_PORT = {"starttls": 587, "ssl": 465, "none": 25}


@dataclass
class EmailChannel:
    """Email over SMTP with a plain-text and an HTML part.

    ``security`` is ``starttls`` (default; refuses servers without STARTTLS),
    ``ssl`` (implicit TLS, port 465) or ``none``.  Credentials are only sent
    over an encrypted connection.  ``ssl_context`` defaults to the system's
    verified context.
    """

    host: str
    sender: str
    recipients: Sequence[str]
    port: int | None = None
    username: str | None = None
    password: str | None = None
    security: SmtpSecurity = "starttls"
    timeout: float = DEFAULT_TIMEOUT
    name: str = "email"
    ssl_context: ssl.SSLContext | None = None

    def __post_init__(self) -> None:
        if self.security not in _DEFAULT_PORT:
            raise ConfigError(f"{self.name}: security must be starttls, ssl or none")
        if not self.recipients:
            raise ConfigError(f"{self.name}: no recipients")
        if self.username and self.security == "none":
            raise ConfigError(f"{self.name}: refusing to send the SMTP password unencrypted",
                              hint="Set security to 'starttls' or 'ssl'.")

    def message(self, notification: Notification) -> EmailMessage:
        """The email for ``notification`` (also used by tests and previews)."""
        msg = EmailMessage()
        msg["Subject"] = f"[sitesnap] {title(notification)}"
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.recipients)
        msg["Date"] = formatdate(localtime=True)
        msg["Message-ID"] = make_msgid(domain="sitesnap")
        msg.set_content(render_text(notification))
        msg.add_alternative(render_html(notification), subtype="html")
        return msg

    def send(self, notification: Notification) -> None:
        msg = self.message(notification)
        port = self.port or _DEFAULT_PORT[self.security]
        where = f"{self.host}:{port}"
        context = self.ssl_context or ssl.create_default_context()
        try:
            smtp: smtplib.SMTP
            if self.security == "ssl":
                smtp = smtplib.SMTP_SSL(self.host, port, timeout=self.timeout, context=context)
            else:
                smtp = smtplib.SMTP(self.host, port, timeout=self.timeout)
            with smtp:
                smtp.ehlo()
                if self.security == "starttls":
                    smtp.starttls(context=context)
                    smtp.ehlo()
                if self.username:
                    smtp.login(self.username, self.password or "")
                smtp.send_message(msg)
        except smtplib.SMTPAuthenticationError as exc:
            raise NotificationError(f"{self.name}: {where} rejected the login ({exc.smtp_code})",
                                    hint="Check the SMTP username and password.") from None
        except smtplib.SMTPNotSupportedError as exc:
            raise NotificationError(f"{self.name}: {where}: {exc}") from None
        except smtplib.SMTPResponseException as exc:
            raw = exc.smtp_error
            text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
            raise NotificationError(
                f"{self.name}: {where} answered {exc.smtp_code}: {text}"
            ) from None
        except smtplib.SMTPRecipientsRefused as exc:
            refused = ", ".join(sorted(exc.recipients))
            raise NotificationError(f"{self.name}: {where} refused recipients {refused}") from None
        except (TimeoutError, smtplib.SMTPServerDisconnected) as exc:
            raise NotificationError(f"{self.name}: {where}: {exc or 'timed out'}") from None
        except ssl.SSLError as exc:
            raise NotificationError(f"{self.name}: TLS with {where} failed: {exc.reason}") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise NotificationError(f"{self.name}: cannot send through {where}: {exc}") from None


# -- routing ------------------------------------------------------------------


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
