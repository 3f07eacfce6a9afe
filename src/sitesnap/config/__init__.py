"""Typed site configuration: ``sitesnap.toml`` read, validated, written and detected.

Public API::

    find_config(explicit=None) -> Path | None
    load_config(path) -> SiteConfig            # raises ConfigError "file:line: key: why"
    loads_config(text, path=...) -> SiteConfig
    build_config(data, path=..., text=None) -> SiteConfig
    dump_config(cfg, base_dir=None) -> str
    save_config(cfg, path) -> Path             # atomic
    detect_flask_app(spec) -> DetectedSite     # in sitesnap.config.detect
    render_config(detected, repo_url) -> str

Every key is documented in ``docs/config.md`` (a test keeps it so).
"""

from __future__ import annotations

from sitesnap.config.alerts import (
    Alerts,
    Channel,
    DingTalkChannel,
    EmailChannel,
    SlackChannel,
    WebhookChannel,
    WeComChannel,
)
from sitesnap.config.cron import CronSpec, parse_cron
from sitesnap.config.loader import (
    CONFIG_ENV,
    CONFIG_NAME,
    build_config,
    find_config,
    load_config,
    loads_config,
)
from sitesnap.config.policy import JOBS, Retention, Schedule
from sitesnap.config.schema import (
    AnySource,
    FilesSource,
    MysqlSource,
    ObjectLock,
    PostgresSource,
    RepositoryConfig,
    S3Options,
    SftpOptions,
    Source,
    SqliteSource,
)
from sitesnap.config.site import Runtime, SiteConfig, SiteSection, Web
from sitesnap.config.units import (
    format_duration,
    format_rate,
    format_size,
    parse_duration,
    parse_rate,
    parse_size,
)
from sitesnap.config.writer import dump_config, save_config

__all__ = [
    "CONFIG_ENV",
    "CONFIG_NAME",
    "JOBS",
    "Alerts",
    "AnySource",
    "Channel",
    "CronSpec",
    "DingTalkChannel",
    "EmailChannel",
    "FilesSource",
    "MysqlSource",
    "ObjectLock",
    "PostgresSource",
    "RepositoryConfig",
    "Retention",
    "Runtime",
    "S3Options",
    "Schedule",
    "SftpOptions",
    "SiteConfig",
    "SiteSection",
    "SlackChannel",
    "Source",
    "SqliteSource",
    "WeComChannel",
    "Web",
    "WebhookChannel",
    "build_config",
    "dump_config",
    "find_config",
    "format_duration",
    "format_rate",
    "format_size",
    "load_config",
    "loads_config",
    "parse_cron",
    "parse_duration",
    "parse_rate",
    "parse_size",
    "save_config",
]
