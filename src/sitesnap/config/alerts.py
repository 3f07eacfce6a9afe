"""``[alerts]`` thresholds and ``[[alerts.channels]]`` where alerts go.

Thresholds follow the seed: two consecutive failed backups, storage above
80 % of quota, a backup taking over twice the median of recent runs; the RPO
rule uses ``[site] rpo``, the capture-lag rule ``capture_rpo`` (one minute).
Integrity failures alert unless disabled.  Channels are a tagged union on
``type``; each may be limited to some sites and to alerts of at least a
given severity.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from sitesnap.config.base import ConfigModel, fail_at
from sitesnap.config.fields import Duration, Name, Secret

__all__ = [
    "Alerts",
    "Channel",
    "DingTalkChannel",
    "EmailChannel",
    "RuleId",
    "SlackChannel",
    "WeComChannel",
    "WebhookChannel",
]



class RuleId(StrEnum):
    """The alert rules, by their stable ids: the one list of rule names.

    ``[alerts] disabled`` takes these; each has one definition (severity and
    check) in ``runtime/alerts/rules.py``.
    """

    CONSECUTIVE_FAILURES = "consecutive_failures"
    STORAGE_QUOTA = "storage_quota"
    SLOW_BACKUP = "slow_backup"
    INTEGRITY_FAILURE = "integrity_failure"
    RPO_EXCEEDED = "rpo_exceeded"
    CAPTURE_LAG = "capture_lag"

Severity = Literal["info", "warning", "critical"]


def _http_url(value: str) -> str:
    if urlsplit(value).scheme not in ("http", "https") or not urlsplit(value).netloc:
        raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
    return value


class _ChannelBase(ConfigModel):
    doc_table = "[[alerts.channels]]"

    name: Name | None = None
    min_severity: Severity = "info"
    sites: list[str] = Field(default_factory=list)

    @property
    def label(self) -> str:
        """The channel's name, or its type when unnamed."""
        return self.name or str(getattr(self, "type", "channel"))


class EmailChannel(_ChannelBase):
    type: Literal["email"]
    host: str
    port: Annotated[int, Field(ge=1, le=65535)] | None = None
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str | None = None
    password: Secret | None = None
    sender: str = Field(alias="from")
    to: Annotated[list[str], Field(min_length=1)]

    @field_validator("sender")
    @classmethod
    def _check_sender(cls, value: str) -> str:
        if "@" not in value:
            raise ValueError(f"expected an email address, got {value!r}")
        return value

    @field_validator("to")
    @classmethod
    def _check_to(cls, value: list[str]) -> list[str]:
        for address in value:
            if "@" not in address:
                raise ValueError(f"expected email addresses, got {address!r}")
        return value


class _UrlChannel(_ChannelBase):
    url: str

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        return _http_url(value)


class WebhookChannel(_UrlChannel):
    type: Literal["webhook"]
    headers: dict[str, str] = Field(default_factory=dict)


class SlackChannel(_UrlChannel):
    type: Literal["slack"]


class DingTalkChannel(_UrlChannel):
    type: Literal["dingtalk"]
    secret: Secret | None = None


class WeComChannel(_UrlChannel):
    type: Literal["wecom"]


Channel = Annotated[
    EmailChannel | WebhookChannel | SlackChannel | DingTalkChannel | WeComChannel,
    Field(discriminator="type"),
]


class Alerts(ConfigModel):
    doc_table = "[alerts]"

    consecutive_failures: Annotated[int, Field(ge=1)] = 2
    storage_percent: Annotated[float, Field(gt=0, le=100)] = 80.0
    duration_factor: Annotated[float, Field(gt=1)] = 2.0
    duration_window: Annotated[int, Field(ge=2)] = 10
    duration_min_runs: Annotated[int, Field(ge=1)] = 3
    capture_rpo: Duration = timedelta(seconds=60)
    """How far a continuous source's capture may lag (or go silent) before ``capture_lag`` fires."""
    disabled: list[Annotated[RuleId, Field(strict=False)]] = Field(default_factory=list)
    channels: list[Channel] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_channel_names(self) -> Alerts:
        seen: dict[str, int] = {}
        for index, channel in enumerate(self.channels):
            if channel.name is None:
                continue
            if channel.name in seen:
                raise fail_at(
                    ("channels", index, "name"),
                    f"duplicate name {channel.name!r} (also channels[{seen[channel.name]}])",
                )
            seen[channel.name] = index
        return self
