"""``[[sources]]`` and ``[[repositories]]``: what a site backs up, and where to.

Sources are a tagged union on ``type`` (``sqlite``, ``postgres``, ``mysql``,
``files``), so each kind accepts only its own keys.  Repository options that
belong to one storage kind live in their own sub-table
(``[repositories.s3]``, ``[repositories.sftp]``) and are rejected for URLs
of another kind.  Every path is absolute after validation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import ConfigDict, Field, SerializationInfo, ValidationInfo, field_serializer, field_validator
from pydantic import model_validator as _model_validator

from sitesnap.config.base import ConfigModel, fail_at, unknown_key
from sitesnap.config.fields import (
    ConfigPath,
    Name,
    Rate,
    Secret,
    Size,
    relative_text,
    resolve_path,
)
from sitesnap.errors import ConfigError
from sitesnap.storage.registry import schemes
from sitesnap.storage.s3options import OPTIONS as S3_OPTIONS
from sitesnap.storage.s3options import PRESETS as S3_PRESETS
from sitesnap.storage.s3options import parse_options as parse_s3_options
from sitesnap.storage.sftpoptions import OPTIONS as SFTP_OPTIONS
from sitesnap.storage.sftpoptions import parse_options as parse_sftp_options

__all__ = [
    "CONTINUOUS_TYPES",
    "SOURCE_TYPES",
    "AnySource",
    "FilesSource",
    "MysqlSource",
    "ObjectLock",
    "PostgresSource",
    "RepositoryConfig",
    "S3Options",
    "SftpOptions",
    "Source",
    "SqliteSource",
]

_DB_SCHEMES = {"postgres": ("postgresql", "postgres"), "mysql": ("mysql", "mariadb")}


class _SourceBase(ConfigModel):
    doc_table = "[[sources]]"

    name: Name
    """Unique within the site; names the source's directory in every snapshot."""
    continuous: bool = False
    """Capture the change log continuously (``sitesnap capture``): SQLite WAL, PostgreSQL WAL, MySQL/MariaDB binlog."""

    @_model_validator(mode="after")
    def _continuous_kind(self) -> _SourceBase:
        kind = getattr(self, "type", "")
        if self.continuous and kind not in CONTINUOUS_TYPES:
            raise fail_at(("continuous",), f"continuous capture is not available for {kind} sources yet "
                                           f"(only {', '.join(CONTINUOUS_TYPES)})")
        return self


class SqliteSource(_SourceBase):
    """A SQLite database file, copied through SQLite's online backup API."""

    type: Literal["sqlite"]
    path: ConfigPath


class _DatabaseServer(_SourceBase):
    db_kind: ClassVar[str] = "postgres"

    url: str
    password: Secret | None = None

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        allowed = _DB_SCHEMES[cls.db_kind]
        parts = urlsplit(value)
        scheme = parts.scheme.partition("+")[0].lower()
        if scheme not in allowed:
            example = f"{allowed[0]}://user@127.0.0.1/dbname"
            raise ValueError(f"expected a {allowed[0]}:// URL, e.g. {example!r}, got {value!r}")
        if not parts.path.strip("/"):
            raise ValueError(f"the URL names no database: add '/dbname' to {_redact(value)!r}")
        return urlunsplit((scheme, parts.netloc, parts.path, parts.query, parts.fragment))

    @_model_validator(mode="after")
    def _one_password(self) -> _DatabaseServer:
        if self.password is not None and urlsplit(self.url).password:
            raise fail_at(("password",), "the URL already contains a password; give it once")
        return self


class PostgresSource(_DatabaseServer):
    """A PostgreSQL database, dumped with pg_dump in one transaction."""

    type: Literal["postgres"]


class MysqlSource(_DatabaseServer):
    """A MySQL or MariaDB database, dumped with mariadb-dump/mysqldump --single-transaction."""

    db_kind = "mysql"

    type: Literal["mysql"]


class FilesSource(_SourceBase):
    """A directory tree."""

    type: Literal["files"]
    path: ConfigPath
    exclude: list[str] = Field(default_factory=list)
    one_file_system: bool = False


AnySource = SqliteSource | PostgresSource | MysqlSource | FilesSource
Source = Annotated[AnySource, Field(discriminator="type")]
SOURCE_TYPES = ("sqlite", "postgres", "mysql", "files")
CONTINUOUS_TYPES = ("sqlite", "postgres", "mysql")  # source types whose change log can be captured


class ObjectLock(ConfigModel):
    """S3 Object Lock retention set on every object written."""

    doc_table = "[repositories.s3.object_lock]"

    mode: Literal["governance", "compliance"]
    days: Annotated[int, Field(ge=1, le=36500)]


class S3Options(ConfigModel):
    """``[repositories.s3]``: the S3 backend's options (:mod:`sitesnap.storage.s3options`).

    The keys below are typed here; every other option of the backend
    (``docs/storage.md``: ``part_size``, ``conditional_put``,
    ``create_bucket``, ``timeout``, ``session_token``, ``object_lock_mode``,
    ``addressing``...) is accepted under its own name and validated by the
    backend's own :func:`~sitesnap.storage.s3options.parse_options`, so the
    two can never disagree.  ``addressing_style`` and ``object_lock`` are this
    file's spellings of ``addressing`` and ``object_lock_mode``/``_days``.
    """

    model_config = ConfigDict(**{**ConfigModel.model_config, "extra": "allow"})
    doc_table = "[repositories.s3]"

    preset: str = "aws"
    endpoint: str | None = None
    region: str | None = None
    addressing_style: Literal["auto", "virtual", "path"] = "auto"
    access_key_id: Secret | None = None
    secret_access_key: Secret | None = None
    object_lock: ObjectLock | None = None

    @_model_validator(mode="before")
    @classmethod
    def _no_unknown_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            known = [*cls.toml_keys(), *sorted(S3_OPTIONS - set(cls.toml_keys()))]
            for key in data:
                if key not in known:
                    raise unknown_key(str(key), known)
        return data

    @field_validator("preset")
    @classmethod
    def _check_preset(cls, value: str) -> str:
        if value not in S3_PRESETS:
            raise ValueError(f'must be one of {", ".join(S3_PRESETS)} (got string "{value}")')
        return value

    @field_validator("endpoint")
    @classmethod
    def _check_endpoint(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in ("http", "https"):
            raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
        return value

    @_model_validator(mode="after")
    def _consistent(self) -> S3Options:
        if (self.access_key_id is None) != (self.secret_access_key is None):
            missing = "secret_access_key" if self.secret_access_key is None else "access_key_id"
            raise fail_at((missing,), "give access_key_id and secret_access_key together")
        if self.preset != "aws" and not (self.endpoint or self.region):
            raise fail_at(("region",), f"the {self.preset} preset needs region or endpoint")
        for ours, theirs in (("addressing_style", "addressing"), ("object_lock", "object_lock_mode")):
            if ours in self.model_fields_set and theirs in (self.model_extra or {}):
                raise fail_at((theirs,), f"give {ours} or {theirs}, not both")
        return self

    def backend_options(self) -> dict[str, Any]:
        """The options as the S3 backend takes them; secrets stay references (resolved when opened)."""
        options: dict[str, Any] = dict(self.model_extra or {})
        options["preset"] = self.preset
        for key in ("endpoint", "region", "access_key_id", "secret_access_key"):
            if getattr(self, key) is not None:
                options[key] = getattr(self, key)
        if self.addressing_style != "auto":
            options["addressing"] = self.addressing_style
        if self.object_lock is not None:
            options["object_lock_mode"] = self.object_lock.mode
            options["object_lock_days"] = self.object_lock.days
        if self.endpoint and self.endpoint.startswith("http://"):
            options.setdefault("allow_http", True)
        return options


class SftpOptions(ConfigModel):
    """``[repositories.sftp]``: the SFTP backend's options (:mod:`sitesnap.storage.sftpoptions`).

    The paths and the password are typed here (paths relative to the config
    file); the backend's other options (``port``, ``username``,
    ``key_passphrase``, ``connect_timeout``, ``timeout``) are accepted under
    their own names and validated by the backend.
    """

    model_config = ConfigDict(**{**ConfigModel.model_config, "extra": "allow"})
    doc_table = "[repositories.sftp]"

    key_file: ConfigPath | None = None
    password: Secret | None = None
    known_hosts: ConfigPath | None = None

    @_model_validator(mode="before")
    @classmethod
    def _no_unknown_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            known = [*cls.toml_keys(), *sorted(SFTP_OPTIONS - set(cls.toml_keys()))]
            for key in data:
                if key not in known:
                    raise unknown_key(str(key), known)
        return data

    def backend_options(self) -> dict[str, Any]:
        """The options as the SFTP backend takes them; the password stays a reference."""
        options: dict[str, Any] = dict(self.model_extra or {})
        for key in ("key_file", "known_hosts"):
            if getattr(self, key) is not None:
                options[key] = str(getattr(self, key))
        if self.password is not None:
            options["password"] = self.password
        return options


class RepositoryConfig(ConfigModel):
    """One repository; the first in the file is the site's primary."""

    doc_table = "[[repositories]]"

    name: Name
    url: str
    password: Secret | None = None
    append_only: bool = False
    copy_after_backup: bool = True
    quota: Size | None = None
    limit_upload: Rate | None = None
    limit_download: Rate | None = None
    s3: S3Options | None = None
    sftp: SftpOptions | None = None
    options: dict[str, Any] | None = None

    @property
    def kind(self) -> Literal["local", "s3", "sftp", "plugin"]:
        """The storage kind named by the URL's scheme (``plugin``: a backend of an installed package)."""
        scheme = urlsplit(self.url).scheme.lower()
        if scheme in ("s3", "sftp"):
            return scheme  # type: ignore[return-value]
        if scheme in ("", "file") or len(scheme) == 1:
            return "local"
        return "plugin"

    @property
    def local_path(self) -> Path | None:
        """The directory of a local repository, None for remote ones."""
        if self.kind != "local":
            return None
        if self.url.startswith("file:"):
            return Path(urlsplit(self.url).path)
        return Path(self.url)

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str, info: ValidationInfo) -> str:
        parts = urlsplit(value)
        if parts.scheme == "s3":
            if not parts.netloc:
                raise ValueError(f"expected s3://bucket/prefix, got {value!r}")
        elif parts.scheme == "sftp":
            if not parts.hostname or not parts.path.strip("/"):
                raise ValueError(f"expected sftp://user@host/path, got {value!r}")
        elif parts.scheme == "file":
            if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
                raise ValueError(f"expected file:///absolute/path, got {value!r}")
        elif parts.scheme and len(parts.scheme) > 1:  # "C:" is a drive, not a scheme
            if parts.scheme.lower() not in schemes():  # built-in or registered by an installed package
                raise ValueError(
                    f"unsupported URL scheme {parts.scheme!r}: use a path, file://, s3:// or sftp://, "
                    "or install the package of a storage backend registered for it"
                )
        else:
            return str(resolve_path(value, info))
        return value

    @field_serializer("url")
    def _dump_url(self, value: str, info: SerializationInfo) -> str:
        if self.kind == "local" and not value.startswith("file:"):
            return relative_text(value, info)
        return value

    @_model_validator(mode="after")
    def _options_match_kind(self) -> RepositoryConfig:
        for option in ("s3", "sftp"):
            if getattr(self, option) is not None and self.kind != option:
                raise fail_at((option,), f"[{option}] options need an {option}:// URL")
        if self.options and self.kind != "plugin":
            raise fail_at(("options",), "[options] is for storage backends of installed packages; "
                          "use [s3] or [sftp] for the built-in ones")
        for option, parse in (("s3", parse_s3_options), ("sftp", parse_sftp_options)):
            table = getattr(self, option)
            if table is not None:
                try:
                    parse(self.url, table.backend_options(), resolve_secrets=False)
                except ConfigError as exc:
                    raise fail_at((option,), exc.message) from None
        return self


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
