"""The catalog's tables (SQLAlchemy 2 typed ORM), portable to SQLite, PostgreSQL and MySQL/MariaDB.

The catalog is a cache of what the repositories hold plus the history of
runs, audit events, alert states and drills; every schema change ships an
Alembic revision in ``migrations/`` and a test checks that the two agree.

Times are stored as naive UTC (SQLite and MySQL have no zoned type) and come
back as aware UTC datetimes; MySQL keeps microseconds.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Float,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, TypeEngine

__all__ = [
    "AlertState",
    "ApiToken",
    "AuditEvent",
    "BackupConfig",
    "BackupRecord",
    "Base",
    "CaptureProgress",
    "DrillResult",
    "Lease",
    "Run",
    "UTCDateTime",
    "User",
]

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

LONG_TEXT = Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out; naive UTC in the database."""

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"catalog times must be timezone-aware, got {value.isoformat()}")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), dict[str, Any]: JSON()}


class BackupRecord(Base):
    """One snapshot in one repository, as the seed's ``backup_records`` table.

    ``location`` names the repository without credentials;
    ``storage_providers`` maps each repository the snapshot was written or
    copied to onto ``{"ok", "error", "bytes_sent", "reason"}``; ``meta``
    (column ``metadata``) holds sources, tags, row counts and the like.
    """

    __tablename__ = "backup_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    backup_id: Mapped[str] = mapped_column(String(64), unique=True)
    site: Mapped[str] = mapped_column(String(200), index=True)
    backup_type: Mapped[str] = mapped_column(String(20), index=True)
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    created_at: Mapped[datetime] = mapped_column(index=True)
    completed_at: Mapped[datetime | None]
    location: Mapped[str] = mapped_column(String(500), default="")
    hostname: Mapped[str] = mapped_column(String(200), default="")
    file_size: Mapped[int | None] = mapped_column(BigInteger)
    compression_ratio: Mapped[float | None] = mapped_column(Float)
    dedup_ratio: Mapped[float | None] = mapped_column(Float)
    encryption_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    storage_providers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    duration: Mapped[float | None] = mapped_column(Float)
    run_id: Mapped[str | None] = mapped_column(String(36), index=True)


class BackupConfig(Base):
    """A site's configuration as TOML text, edited from the console."""

    __tablename__ = "backup_configs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site: Mapped[str] = mapped_column(String(200), unique=True)
    config_toml: Mapped[str] = mapped_column(LONG_TEXT)
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(200), default="")


class Run(Base):
    """One execution of backup, restore, copy, prune, check, drill or forget."""

    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), index=True)
    site: Mapped[str] = mapped_column(String(200), default="", index=True)
    repository: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[str] = mapped_column(String(20), index=True)
    created_at: Mapped[datetime] = mapped_column(index=True)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    progress: Mapped[dict[str, Any]] = mapped_column(default=dict)
    log: Mapped[str] = mapped_column(LONG_TEXT, default="")
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    triggered_by: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(200), default="")
    worker: Mapped[str] = mapped_column(String(200), default="")
    host: Mapped[str] = mapped_column(String(200), default="")
    pid: Mapped[int | None] = mapped_column(Integer)


class AuditEvent(Base):
    """Who did what to which target, from where."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    time: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(200), index=True)
    action: Mapped[str] = mapped_column(String(100), index=True)
    target: Mapped[str] = mapped_column(String(500), default="")
    source_ip: Mapped[str] = mapped_column(String(45), default="")
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class AlertState(Base):
    """Whether an alert rule fires for a site, so notifications are de-duplicated."""

    __tablename__ = "alert_states"
    __table_args__ = (UniqueConstraint("site", "rule"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site: Mapped[str] = mapped_column(String(200))
    rule: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(20))
    since: Mapped[datetime]
    last_sent: Mapped[datetime | None]
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Lease(Base):
    """A named lock with an expiry, shared by every process using the catalog.

    ``name`` says what it guards (``scheduler:<site>``, ``alerts:<site>``);
    ``holder`` is unique per holding object; ``host`` and ``pid`` let a
    process on the same host take over from a holder that died.
    """

    __tablename__ = "leases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    holder: Mapped[str] = mapped_column(String(100))
    host: Mapped[str] = mapped_column(String(200), default="")
    pid: Mapped[int | None] = mapped_column(Integer)
    acquired_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class CaptureProgress(Base):
    """How far the continuous capture of one source has shipped, as its capture last reported.

    One row per (site, source), upserted on every report, so ``status``,
    ``/metrics`` and the alert rules know the capture lag without opening
    the repository.  Times are shipped commit times (wall clock of the
    capturing host); ``reported_at`` is when the capture last said it was alive.
    """

    __tablename__ = "capture_progress"
    __table_args__ = (UniqueConstraint("site", "source"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(200))
    generation: Mapped[str] = mapped_column(String(64), default="")
    last_shipped_at: Mapped[datetime | None]
    oldest_restorable_at: Mapped[datetime | None]
    segments_total: Mapped[int] = mapped_column(BigInteger, default=0)
    reported_at: Mapped[datetime]


class DrillResult(Base):
    """The outcome of one restore drill."""

    __tablename__ = "drill_results"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str | None] = mapped_column(String(36), index=True)
    site: Mapped[str] = mapped_column(String(200), index=True)
    snapshot_id: Mapped[str] = mapped_column(String(64))
    ok: Mapped[bool] = mapped_column(Boolean)
    rto_seconds: Mapped[float | None] = mapped_column(Float)
    checks: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(index=True)


class User(Base):
    """A console or API user: a role (admin, operator, viewer) and an argon2 password hash.

    ``session_nonce`` is part of every session cookie; changing it (logout,
    password change) invalidates the user's sessions everywhere.
    """

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(500))
    session_nonce: Mapped[str] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    last_login: Mapped[datetime | None]


class ApiToken(Base):
    """An API token for automation; only the SHA-256 of the token is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime]
    last_used: Mapped[datetime | None]
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
