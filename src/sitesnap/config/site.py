"""The whole ``sitesnap.toml``: :class:`SiteConfig` and its small tables.

A :class:`SiteConfig` is a validated, immutable-by-convention value: paths
absolute, durations as ``timedelta``, sizes as ``int`` bytes, secrets as
:class:`~sitesnap.secrets.SecretRef` (not yet resolved).  It remembers the
file it came from and the warnings found while reading it.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, PrivateAttr, field_serializer, field_validator, model_validator

from sitesnap.config.alerts import Alerts
from sitesnap.config.base import ConfigModel, fail_at
from sitesnap.config.fields import ConfigPath, Duration, Name, Secret
from sitesnap.config.policy import Retention, Schedule
from sitesnap.config.schema import AnySource, RepositoryConfig, Source
from sitesnap.errors import ConfigError

__all__ = ["Runtime", "SiteConfig", "SiteSection", "Web"]

_BROKER_SCHEMES = ("redis", "rediss", "amqp", "amqps")


class SiteSection(ConfigModel):
    doc_table = "[site]"

    name: Name
    description: str = ""
    rpo: Duration = timedelta(hours=24)
    console_url: str | None = None
    timezone: str | None = None

    @field_validator("console_url")
    @classmethod
    def _check_console_url(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in ("http", "https"):
            raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
        return value.rstrip("/") if value else value

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}: use e.g. 'Asia/Shanghai', 'UTC'") from None
        return value


class Runtime(ConfigModel):
    doc_table = "[runtime]"

    broker: str = ""
    catalog_url: str = ""
    state_dir: ConfigPath = Field(default=Path(".sitesnap"), validate_default=True)

    @field_validator("broker")
    @classmethod
    def _check_broker(cls, value: str) -> str:
        if value and urlsplit(value).scheme not in _BROKER_SCHEMES:
            raise ValueError(f"expected a redis:// URL (or empty for the embedded scheduler), got {value!r}")
        return value

    @model_validator(mode="after")
    def _default_catalog(self) -> Runtime:
        if not self.catalog_url:
            self.catalog_url = self.default_catalog_url()
        elif "://" not in self.catalog_url:
            raise fail_at(("catalog_url",), "expected a database URL, e.g. 'sqlite:////path/catalog.db'")
        return self

    def default_catalog_url(self) -> str:
        """The SQLite catalog in the state directory, used when ``catalog_url`` is empty."""
        return f"sqlite:///{self.state_dir / 'catalog.db'}"

    @field_serializer("catalog_url")
    def _dump_catalog(self, value: str) -> str:
        return "" if value == self.default_catalog_url() else value


class Web(ConfigModel):
    doc_table = "[web]"

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 8470
    secret_key: Secret | None = None
    tls_cert: ConfigPath | None = None
    tls_key: ConfigPath | None = None
    public_metrics: bool = False
    behind_proxy: bool = False

    @model_validator(mode="after")
    def _tls_pair(self) -> Web:
        if (self.tls_cert is None) != (self.tls_key is None):
            missing = "tls_key" if self.tls_key is None else "tls_cert"
            raise fail_at((missing,), "give tls_cert and tls_key together")
        return self


class SiteConfig(ConfigModel):
    """A site: its sources, repositories (the first is primary), schedules and rules."""

    doc_table = "top level"

    site: SiteSection
    sources: list[Source] = Field(default_factory=list)
    repositories: list[RepositoryConfig] = Field(default_factory=list)
    schedule: Schedule = Field(default_factory=dict, validate_default=True)
    retention: Retention = Field(default_factory=dict, validate_default=True)
    alerts: Alerts = Field(default_factory=dict, validate_default=True)
    runtime: Runtime = Field(default_factory=dict, validate_default=True)
    web: Web = Field(default_factory=dict, validate_default=True)

    _path: Path | None = PrivateAttr(default=None)
    _warnings: list[str] = PrivateAttr(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> SiteConfig:
        for table in ("sources", "repositories"):
            seen: dict[str, int] = {}
            for index, item in enumerate(getattr(self, table)):
                if item.name in seen:
                    raise fail_at(
                        (table, index, "name"),
                        f"duplicate name {item.name!r} (also {table}[{seen[item.name]}])",
                    )
                seen[item.name] = index
        return self

    # -- where it came from ------------------------------------------------

    @property
    def path(self) -> Path | None:
        """The file this config was read from (None when built in memory)."""
        return self._path

    @property
    def base_dir(self) -> Path:
        """The directory relative paths were resolved against."""
        return self._path.parent if self._path is not None else Path.cwd()

    @property
    def warnings(self) -> list[str]:
        """``file:line: key: message`` lines for things accepted but discouraged."""
        return list(self._warnings)

    def attach(self, path: Path | None, warnings: list[str]) -> SiteConfig:
        """Record the source file and warnings (used by the loader); returns self."""
        self._path = path
        self._warnings = list(warnings)
        return self

    # -- lookups -------------------------------------------------------------

    @property
    def primary(self) -> RepositoryConfig:
        """The first repository; raises ConfigError when the site has none."""
        if not self.repositories:
            raise ConfigError(
                f"{self._path or 'the site'}: no [[repositories]] configured",
                hint="Add a [[repositories]] table with name and url.",
            )
        return self.repositories[0]

    def source(self, name: str) -> AnySource:
        """The source called ``name``; raises ConfigError naming the known ones."""
        found: AnySource = _by_name(self.sources, name, "source")
        return found

    def repository(self, name: str) -> RepositoryConfig:
        """The repository called ``name``; raises ConfigError naming the known ones."""
        found: RepositoryConfig = _by_name(self.repositories, name, "repository")
        return found


def _by_name(items: list[Any], name: str, what: str) -> Any:
    for item in items:
        if item.name == name:
            return item
    known = ", ".join(item.name for item in items) or "none"
    raise ConfigError(f"no {what} named {name!r} (known: {known})")
