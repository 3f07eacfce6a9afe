"""What the catalog hands out: frozen dataclasses, detached from any session.

Callers (runtime, web, CLI) never see ORM objects, so nothing they hold can
lazily hit the database from another thread.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any, Generic, TypeVar

__all__ = ["AlertInfo", "AuditEntry", "BackupRecordInfo", "ConfigInfo", "DrillInfo", "Page",
           "RunInfo", "from_row"]

T = TypeVar("T")
V = TypeVar("V")


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


class _View:
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: times as ISO 8601 strings."""
        return {k: _jsonable(v) for k, v in asdict(self).items()}  # type: ignore[call-overload]


def from_row(cls: type[V], row: object, **overrides: Any) -> V:
    """Copy the dataclass's fields from an ORM row."""
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    return cls(**{n: overrides[n] if n in overrides else getattr(row, n) for n in names})


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing; ``total`` counts every match, not just this page."""

    items: list[T]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


@dataclass(frozen=True)
class BackupRecordInfo(_View):
    backup_id: str
    site: str
    backup_type: str
    status: str
    created_at: datetime
    completed_at: datetime | None
    location: str
    hostname: str
    file_size: int | None
    compression_ratio: float | None
    dedup_ratio: float | None
    encryption_enabled: bool
    storage_providers: dict[str, Any]
    metadata: dict[str, Any]
    duration: float | None
    run_id: str | None


@dataclass(frozen=True)
class RunInfo(_View):
    id: str
    kind: str
    site: str
    repository: str
    status: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    progress: dict[str, Any]
    log: str
    error_code: str | None
    error_message: str | None
    result: dict[str, Any]
    triggered_by: str
    actor: str
    worker: str
    host: str
    pid: int | None


@dataclass(frozen=True)
class ConfigInfo(_View):
    site: str
    config_toml: str
    version: int
    updated_at: datetime
    updated_by: str


@dataclass(frozen=True)
class AuditEntry(_View):
    id: int
    time: datetime
    actor: str
    action: str
    target: str
    source_ip: str
    details: dict[str, Any]


@dataclass(frozen=True)
class AlertInfo(_View):
    site: str
    rule: str
    state: str
    since: datetime
    last_sent: datetime | None
    details: dict[str, Any]


@dataclass(frozen=True)
class DrillInfo(_View):
    id: int
    run_id: str | None
    site: str
    snapshot_id: str
    ok: bool
    rto_seconds: float | None
    checks: list[dict[str, Any]]
    created_at: datetime
