"""HTTP alert channels: generic JSON webhook, Slack, DingTalk and WeCom robots.

Each channel POSTs one JSON document with a timeout and raises
:class:`NotificationError` with a one-line reason on any failure.  Webhook URLs
carry tokens, so errors show only their scheme, host and port.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sitesnap.errors import ConfigError, NotificationError
from sitesnap.runtime.alerts.message import render_markdown, title
from sitesnap.runtime.alerts.state import Notification

__all__ = [
    "DEFAULT_TIMEOUT",
    "DingTalkChannel",
    "SlackChannel",
    "WeComChannel",
    "WebhookChannel",
    "dingtalk_sign",
    "dingtalk_signed_url",
    "post_json",
    "slack_payload",
]

DEFAULT_TIMEOUT = 10.0
_USER_AGENT = "sitesnap-alerts"


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
