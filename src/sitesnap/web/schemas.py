"""Request and response bodies of the REST API (pydantic; they make the OpenAPI 3.1 spec).

Inputs forbid unknown keys, so a typo is a 422 naming the key rather than a
silently ignored option.  Outputs mirror the catalog's dataclasses; nothing
here can carry a secret (repositories are described without passwords or
keys, database URLs are redacted).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

__all__ = [
    "AuditPage",
    "AuditQuery",
    "BackupRecordOut",
    "ConfigIn",
    "ConfigOut",
    "CreateBackupIn",
    "DrillIn",
    "DrillPage",
    "DrillQuery",
    "ErrorOut",
    "HealthOut",
    "LoginIn",
    "MeOut",
    "OkOut",
    "RecordPage",
    "RecordQuery",
    "RepositoryOut",
    "RestoreIn",
    "RestoreOut",
    "RunOut",
    "RunPage",
    "RunQuery",
    "RunStarted",
    "SiteOut",
    "TimelineOut",
]

BackupType = Literal["full", "incremental", "snapshot", "realtime", "pre-restore"]
RecordStatus = Literal["pending", "running", "completed", "failed"]
RunKind = Literal["backup", "restore", "copy", "prune", "check", "drill", "forget"]
RunStatus = Literal["queued", "running", "completed", "failed", "cancelled"]
RecordSort = Literal["created_at", "-created_at", "completed_at", "-completed_at", "file_size", "-file_size",
                     "duration", "-duration", "site", "-site", "backup_type", "-backup_type", "status", "-status"]
Name = Field(min_length=1, max_length=200)
Role = Literal["viewer", "operator", "admin"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Paged(_In):
    page: int = Field(1, ge=1, le=1_000_000)
    per_page: int = Field(50, ge=1, le=500)


class ErrorOut(BaseModel):
    """The one error shape (``SitesnapError.to_dict()``)."""

    error: str
    message: str
    hint: str | None = None
    exit_code: int
    problems: list[str] | None = None


class OkOut(BaseModel):
    ok: bool


class HealthOut(BaseModel):
    status: Literal["ok", "degraded"]
    version: str
    catalog: bool


# --- auth ------------------------------------------------------------------------------


class LoginIn(_In):
    name: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=1000)


class MeOut(BaseModel):
    name: str
    role: Literal["viewer", "operator", "admin"]
    kind: Literal["session", "token", "host"]
    csrf_token: str | None = None


# --- backup records ----------------------------------------------------------------------


class RecordQuery(_Paged):
    site: str | None = Field(None, max_length=200)
    type: BackupType | None = None
    status: RecordStatus | None = None
    since: datetime | None = None
    until: datetime | None = None
    q: str | None = Field(None, max_length=200)
    sort: RecordSort = "-created_at"


class BackupRecordOut(BaseModel):
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


class RecordPage(BaseModel):
    items: list[BackupRecordOut]
    total: int
    page: int
    per_page: int
    pages: int


class CreateBackupIn(_In):
    type: Literal["full", "incremental", "snapshot", "realtime"] = "snapshot"
    sources: list[str] = Field(default_factory=list, max_length=100)
    tags: list[str] = Field(default_factory=list, max_length=50)


class RunStarted(BaseModel):
    run_id: str


class RealtimeIn(_In):
    reason: str = Field(default="", max_length=500, description="what happened (shown in the run's log)")


class RealtimeOut(BaseModel):
    pending: int = Field(description="triggers in the batch waiting for its realtime snapshot")
    first: str
    last: str


class RestoreIn(_In):
    sources: list[str] = Field(default_factory=list, max_length=100)
    targets: dict[str, str] = Field(default_factory=dict, description="source name -> directory, SQLite file or "
                                                                      "database URL to restore into instead")
    dry_run: bool = False
    confirm: str | None = Field(None, max_length=200, description="the site's name; required when the plan "
                                                                 "overwrites live data")
    safety_snapshot: bool = True
    at: AwareDatetime | None = Field(None, description="restore the site as of this time (ISO 8601 with an "
                                                       "offset): the newest snapshot at or before it, as "
                                                       "'restore --at'; the path's backup_id must be 'latest'")


class RestoreItemOut(BaseModel):
    source: str
    kind: str
    target: str
    in_place: bool
    exists: bool
    before: dict[str, int]
    after: dict[str, int]
    overwrite: int
    create: int
    delete: int
    size: int
    damaged: str
    time: str | None = Field(None, description="the time of the state this source is restored to")
    distance_seconds: float | None = Field(None, description="the chosen 'at' minus that time")


class RestorePlanOut(BaseModel):
    snapshot_id: str
    snapshot_time: str
    site: str
    overwrites_live_data: bool
    items: list[RestoreItemOut]
    safety_snapshot: str | None
    at: str | None = None


class TimelineSpanOut(BaseModel):
    start: str
    end: str
    generation: str | None = None
    segments: int | None = None


class TimelineSnapshotOut(BaseModel):
    id: str
    time: str
    type: str | None = None


class TimelineSourceOut(BaseModel):
    name: str
    type: str
    continuous: bool
    windows: list[TimelineSpanOut] = Field(description="restorable windows of the log stream (continuous sources)")
    gaps: list[TimelineSpanOut]
    snapshots: list[TimelineSnapshotOut] = Field(description="snapshots holding this source, oldest first")


class TimelineOut(BaseModel):
    site: str
    generated_at: str
    sources: list[TimelineSourceOut]
    snapshots: list[TimelineSnapshotOut]
    errors: list[str]


class RestoreOut(BaseModel):
    plan: RestorePlanOut
    run_id: str | None = None


# --- config, sites, repositories -------------------------------------------------------------


class ConfigOut(BaseModel):
    site: str
    toml: str
    path: str | None
    version: int | None
    redacted: bool


class ConfigIn(_In):
    toml: str | None = Field(None, max_length=1_000_000, description="the whole sitesnap.toml")
    config: dict[str, Any] | None = Field(None, description="the configuration as JSON (same keys as the TOML)")


class SourceOut(BaseModel):
    name: str
    type: str


class SiteOut(BaseModel):
    name: str
    description: str
    configured: bool
    rpo_seconds: float | None
    sources: list[SourceOut]
    repositories: list[str]


class RepositoryOut(BaseModel):
    site: str
    name: str
    url: str
    kind: str
    primary: bool
    append_only: bool
    copy_after_backup: bool
    quota: int | None


# --- runs, drills, audit -------------------------------------------------------------------


class RunQuery(_Paged):
    site: str | None = Field(None, max_length=200)
    kind: RunKind | None = None
    status: RunStatus | None = None
    since: datetime | None = None
    until: datetime | None = None


class RunOut(BaseModel):
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


class RunPage(BaseModel):
    items: list[RunOut]
    total: int
    page: int
    per_page: int
    pages: int


class DrillQuery(_Paged):
    site: str | None = Field(None, max_length=200)
    ok: bool | None = None


class DrillIn(_In):
    snapshot: str = Field("latest", min_length=1, max_length=64)


class DrillOut(BaseModel):
    id: int
    run_id: str | None
    site: str
    snapshot_id: str
    ok: bool
    rto_seconds: float | None
    checks: list[dict[str, Any]]
    created_at: datetime


class DrillPage(BaseModel):
    items: list[DrillOut]
    total: int
    page: int
    per_page: int
    pages: int


class AuditQuery(_Paged):
    actor: str | None = Field(None, max_length=200)
    action: str | None = Field(None, max_length=100)
    target: str | None = Field(None, max_length=500)
    since: datetime | None = None
    until: datetime | None = None


class AuditOut(BaseModel):
    id: int
    time: datetime
    actor: str
    action: str
    target: str
    source_ip: str
    details: dict[str, Any]


class AuditPage(BaseModel):
    items: list[AuditOut]
    total: int
    page: int
    per_page: int
    pages: int
