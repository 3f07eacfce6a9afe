"""The catalog's API for the runtime and web layers: runs, records, audit, alerts, drills, configs.

:class:`Catalog` is thread-safe: every call opens its own short session and
returns frozen dataclasses (:mod:`sitesnap.catalog.views`).  Write
transactions on SQLite begin ``IMMEDIATE`` so concurrent writers queue instead
of failing.  Values a user can pass (kinds, statuses, sort keys, pages) are
checked and raise :class:`UsageError`; a missing run raises
:class:`RecordNotFound`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Select, String, cast, func, or_, select, text, update
from sqlalchemy.exc import IntegrityError as DBIntegrityError
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import InstrumentedAttribute, Session

from sitesnap.catalog.database import BEGIN_OPTION, create_catalog_engine, redact_url
from sitesnap.catalog.models import AlertState, AuditEvent, BackupConfig, BackupRecord, DrillResult, Run
from sitesnap.catalog.views import (
    AlertInfo,
    AuditEntry,
    BackupRecordInfo,
    ConfigInfo,
    DrillInfo,
    Page,
    RunInfo,
    from_row,
)
from sitesnap.errors import CatalogError, RecordNotFound, SitesnapError, UsageError

__all__ = ["ALERT_STATES", "BACKUP_TYPES", "RECORD_STATUSES", "RUN_KINDS", "RUN_STATUSES",
           "TRIGGERS", "Catalog", "open_catalog"]

RUN_KINDS = ("backup", "restore", "copy", "prune", "check", "drill", "forget")
RUN_STATUSES = ("queued", "running", "completed", "failed", "cancelled")
FINAL_STATUSES = ("completed", "failed", "cancelled")
TRIGGERS = ("user", "scheduler", "api", "cli", "celery")
RECORD_STATUSES = ("pending", "running", "completed", "failed")
BACKUP_TYPES = ("full", "incremental", "snapshot", "realtime", "pre-restore")
ALERT_STATES = ("firing", "resolved")
RECORD_SORTS = ("created_at", "completed_at", "file_size", "duration", "site", "backup_type",
                "status")
MAX_LOG_CHARS = 200_000
MAX_PER_PAGE = 500

def _check(value: str | None, allowed: tuple[str, ...], what: str) -> None:
    if value is not None and value not in allowed:
        raise UsageError(f"unknown {what} {value!r}", hint=f"Use one of: {', '.join(allowed)}.")


def _like(text: str) -> str:
    escaped = text.replace("/", "//").replace("%", "/%").replace("_", "/_")
    return f"%{escaped.lower()}%"


def open_catalog(url: str | Path, *, clock: Callable[[], datetime] | None = None) -> Catalog:
    """Open (and create or upgrade) the catalog at ``url`` or SQLite path.

    Safe to call from several processes at once on a fresh database.  Raises
    :class:`CatalogError` when the database cannot be reached or migrated.
    """
    engine = create_catalog_engine(url)
    try:
        if not _at_head(engine):
            from sitesnap.catalog import migrate  # alembic loads only when there is work to do

            migrate.upgrade(engine)
    except OperationalError as exc:
        engine.dispose()
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise CatalogError(f"cannot open {redact_url(engine.url)}: {reason}") from exc
    return Catalog(engine, clock=clock)


HEAD_REVISION = "0003"
"""The newest migration; a test keeps it equal to Alembic's head."""


def _at_head(engine: Engine) -> bool:
    """True when the database is already at :data:`HEAD_REVISION` (one cheap query, no Alembic)."""
    try:
        with engine.connect() as conn:
            row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
    except (OperationalError, ProgrammingError):
        return False
    return row is not None and row[0] == HEAD_REVISION


class Catalog:
    """Typed access to the catalog database; see the module docstring for guarantees."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] | None = None) -> None:
        self._engine = engine
        self._writer = engine.execution_options(**{BEGIN_OPTION: "IMMEDIATE"})
        self._clock = clock or (lambda: datetime.now(UTC))

    @property
    def url(self) -> str:
        """The database URL without its password."""
        return redact_url(self._engine.url)

    @property
    def engine(self) -> Engine:
        return self._engine

    def close(self) -> None:
        self._engine.dispose()

    @contextmanager
    def _read(self) -> Iterator[Session]:
        with Session(self._engine, expire_on_commit=False) as session:
            yield session

    @contextmanager
    def _write(self) -> Iterator[Session]:
        with Session(self._writer, expire_on_commit=False) as session, session.begin():
            yield session

    def _page(self, query: Select[Any], page: int, per_page: int) -> tuple[list[Any], int]:
        if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
            raise UsageError(f"page must be >= 1 and per_page between 1 and {MAX_PER_PAGE}")
        with self._read() as session:
            total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
            rows = session.scalars(query.limit(per_page).offset((page - 1) * per_page)).all()
        return list(rows), int(total or 0)

    # --- runs -----------------------------------------------------------------

    def start_run(
        self, kind: str, *, site: str = "", repository: str = "", triggered_by: str = "cli",
        actor: str = "", status: str = "running", worker: str = "", host: str = "",
        pid: int | None = None, run_id: str | None = None,
    ) -> RunInfo:
        """Record a new run, ``running`` now or ``queued`` for a worker to start."""
        _check(kind, RUN_KINDS, "run kind")
        _check(triggered_by, TRIGGERS, "trigger")
        _check(status, ("queued", "running"), "starting status")
        now = self._clock()
        run = Run(id=run_id or str(uuid.uuid4()), kind=kind, site=site,
                  repository=redact_url(repository) if "://" in repository else repository,
                  status=status, created_at=now, started_at=now if status == "running" else None,
                  progress={}, log="", result={}, triggered_by=triggered_by, actor=actor,
                  worker=worker, host=host, pid=pid)
        with self._write() as session:
            session.add(run)
        return from_row(RunInfo, run)

    def mark_run_started(self, run_id: str, *, worker: str = "", host: str = "",
                         pid: int | None = None) -> None:
        """A queued run is now running on ``worker``/``host``/``pid``."""
        self._update_run(run_id, status="running", started_at=self._clock(), worker=worker,
                         host=host, pid=pid)

    def update_run_progress(self, run_id: str, progress: Mapping[str, Any]) -> None:
        """Store the latest progress event: one UPDATE; callers throttle."""
        self._update_run(run_id, progress=dict(progress))

    def _update_run(self, run_id: str, **values: Any) -> None:
        with self._write() as session:
            done = session.execute(update(Run).where(Run.id == run_id).values(**values))
            if done.rowcount == 0:  # type: ignore[attr-defined]
                raise RecordNotFound(f"run {run_id}")

    def append_run_log(self, run_id: str, text: str) -> None:
        """Append to the run's log, keeping only the last MAX_LOG_CHARS characters."""
        with self._write() as session:
            run = session.get(Run, run_id)
            if run is None:
                raise RecordNotFound(f"run {run_id}")
            log = run.log + text
            if len(log) > MAX_LOG_CHARS:
                log = "[earlier lines dropped]\n" + log[-MAX_LOG_CHARS:]
            run.log = log

    def finish_run(self, run_id: str, status: str, result: Mapping[str, Any] | None = None,
                   error: BaseException | str | None = None) -> RunInfo:
        """Close a run as completed, failed or cancelled, with its result or error."""
        _check(status, FINAL_STATUSES, "final status")
        values: dict[str, Any] = {"status": status, "finished_at": self._clock()}
        if result is not None:
            values["result"] = dict(result)
        if isinstance(error, SitesnapError):
            values.update(error_code=error.code, error_message=error.message)
        elif isinstance(error, BaseException):
            values.update(error_code=type(error).__name__, error_message=str(error))
        elif error is not None:
            values.update(error_code="error", error_message=error)
        self._update_run(run_id, **values)
        run = self.get_run(run_id)
        assert run is not None
        return run

    def get_run(self, run_id: str) -> RunInfo | None:
        with self._read() as session:
            run = session.get(Run, run_id)
            return None if run is None else from_row(RunInfo, run)

    def list_runs(
        self, *, site: str | None = None, kind: str | None = None, status: str | None = None,
        repository: str | None = None, since: datetime | None = None,
        until: datetime | None = None, page: int = 1, per_page: int = 50,
    ) -> Page[RunInfo]:
        """Runs newest first, filtered on any of the given fields."""
        _check(kind, RUN_KINDS, "run kind")
        _check(status, RUN_STATUSES, "run status")
        query = select(Run).order_by(Run.created_at.desc(), Run.id)
        for column, value in ((Run.site, site), (Run.kind, kind), (Run.status, status),
                              (Run.repository, repository)):
            if value is not None:
                query = query.where(column == value)
        query = _between(query, Run.created_at, since, until)
        rows, total = self._page(query, page, per_page)
        return Page([from_row(RunInfo, r) for r in rows], total, page, per_page)

    # --- backup records ---------------------------------------------------------

    def upsert_backup_record(
        self, backup_id: str, *, site: str | None = None, backup_type: str | None = None,
        status: str | None = None, created_at: datetime | None = None,
        completed_at: datetime | None = None, location: str | None = None,
        hostname: str | None = None, file_size: int | None = None,
        compression_ratio: float | None = None, dedup_ratio: float | None = None,
        encryption_enabled: bool | None = None,
        storage_providers: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None, duration: float | None = None,
        run_id: str | None = None,
    ) -> BackupRecordInfo:
        """Create or update the record of snapshot ``backup_id``; idempotent.

        On update only the arguments given (not None) change; ``storage_providers``
        is merged per repository, so each copy adds its result.  A new record
        needs ``site`` and ``backup_type``.  ``location`` loses any password.
        """
        _check(status, RECORD_STATUSES, "backup status")
        _check(backup_type, BACKUP_TYPES, "backup type")
        given: dict[str, Any] = {k: v for k, v in {
            "site": site, "backup_type": backup_type, "status": status,
            "created_at": created_at, "completed_at": completed_at,
            "location": redact_url(location) if location and "://" in location else location,
            "hostname": hostname, "file_size": file_size,
            "compression_ratio": compression_ratio, "dedup_ratio": dedup_ratio,
            "encryption_enabled": encryption_enabled, "duration": duration, "run_id": run_id,
        }.items() if v is not None}
        if metadata is not None:
            given["meta"] = dict(metadata)
        for attempt in (1, 2):
            try:
                with self._write() as session:
                    row = session.scalar(select(BackupRecord).where(
                        BackupRecord.backup_id == backup_id))
                    if row is None:
                        row = self._new_record(backup_id, given)
                        session.add(row)
                    for key, value in given.items():
                        setattr(row, key, value)
                    if storage_providers:
                        row.storage_providers = {**row.storage_providers, **storage_providers}
                return from_row(BackupRecordInfo, row, metadata=row.meta)
            except DBIntegrityError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _new_record(self, backup_id: str, given: Mapping[str, Any]) -> BackupRecord:
        if "site" not in given or "backup_type" not in given:
            raise UsageError(f"a new backup record ({backup_id}) needs a site and a backup type")
        return BackupRecord(backup_id=backup_id, status="pending",
                            created_at=given.get("created_at") or self._clock(), location="",
                            hostname="", encryption_enabled=True, storage_providers={}, meta={})

    def get_backup_record(self, backup_id: str) -> BackupRecordInfo | None:
        with self._read() as session:
            row = session.scalar(select(BackupRecord).where(BackupRecord.backup_id == backup_id))
            return None if row is None else from_row(BackupRecordInfo, row, metadata=row.meta)

    def delete_backup_record(self, backup_id: str) -> bool:
        """Delete the record (not the snapshot); False if there was none."""
        with self._write() as session:
            row = session.scalar(select(BackupRecord).where(BackupRecord.backup_id == backup_id))
            if row is None:
                return False
            session.delete(row)
            return True

    def list_backup_records(
        self, *, site: str | None = None, type: str | None = None, status: str | None = None,
        since: datetime | None = None, until: datetime | None = None, text: str | None = None,
        page: int = 1, per_page: int = 50, sort: str = "-created_at",
    ) -> Page[BackupRecordInfo]:
        """Records filtered and sorted (``"-created_at"``: newest first).

        ``text`` matches, case-insensitively, the snapshot ID, site, host name,
        location and metadata (tags, sources).  ``since``/``until`` bound
        ``created_at`` (inclusive, exclusive).
        """
        _check(type, BACKUP_TYPES, "backup type")
        _check(status, RECORD_STATUSES, "backup status")
        _check(sort.lstrip("-"), RECORD_SORTS, "sort key")
        column: InstrumentedAttribute[Any] = getattr(BackupRecord, sort.lstrip("-"))
        order = column.desc() if sort.startswith("-") else column.asc()
        query = select(BackupRecord).order_by(order, BackupRecord.id.desc())
        for attr, value in ((BackupRecord.site, site), (BackupRecord.backup_type, type),
                            (BackupRecord.status, status)):
            if value is not None:
                query = query.where(attr == value)
        query = _between(query, BackupRecord.created_at, since, until)
        if text:
            pattern = _like(text)
            searched: list[Any] = [
                BackupRecord.backup_id, BackupRecord.site, BackupRecord.hostname,
                BackupRecord.location, cast(BackupRecord.meta, String)]
            query = query.where(or_(*(func.lower(c).like(pattern, escape="/") for c in searched)))
        rows, total = self._page(query, page, per_page)
        items = [from_row(BackupRecordInfo, r, metadata=r.meta) for r in rows]
        return Page(items, total, page, per_page)

    # --- audit --------------------------------------------------------------------

    def add_audit(self, actor: str, action: str, target: str = "", *, source_ip: str = "",
                  details: Mapping[str, Any] | None = None,
                  time: datetime | None = None) -> AuditEntry:
        """Append an audit event (never updated or deleted through this API)."""
        event = AuditEvent(time=time or self._clock(), actor=actor, action=action,
                           target=target, source_ip=source_ip, details=dict(details or {}))
        with self._write() as session:
            session.add(event)
        return from_row(AuditEntry, event)

    def list_audit(
        self, *, actor: str | None = None, action: str | None = None, target: str | None = None,
        since: datetime | None = None, until: datetime | None = None, page: int = 1,
        per_page: int = 50,
    ) -> Page[AuditEntry]:
        """Audit events newest first."""
        query = select(AuditEvent).order_by(AuditEvent.time.desc(), AuditEvent.id.desc())
        for attr, value in ((AuditEvent.actor, actor), (AuditEvent.action, action),
                            (AuditEvent.target, target)):
            if value is not None:
                query = query.where(attr == value)
        query = _between(query, AuditEvent.time, since, until)
        rows, total = self._page(query, page, per_page)
        return Page([from_row(AuditEntry, r) for r in rows], total, page, per_page)

    # --- alert states ---------------------------------------------------------------

    def get_alert_state(self, site: str, rule: str) -> AlertInfo | None:
        with self._read() as session:
            row = session.scalar(select(AlertState).where(AlertState.site == site,
                                                          AlertState.rule == rule))
            return None if row is None else from_row(AlertInfo, row)

    def set_alert_state(self, site: str, rule: str, state: str, *,
                        details: Mapping[str, Any] | None = None,
                        last_sent: datetime | None = None) -> AlertInfo:
        """Set a rule's state; ``since`` moves only when the state changes."""
        _check(state, ALERT_STATES, "alert state")
        now = self._clock()
        for attempt in (1, 2):
            try:
                with self._write() as session:
                    row = session.scalar(select(AlertState).where(AlertState.site == site,
                                                                  AlertState.rule == rule))
                    if row is None:
                        row = AlertState(site=site, rule=rule, state=state, since=now,
                                         details={})
                        session.add(row)
                    elif row.state != state:
                        row.state, row.since = state, now
                    if details is not None:
                        row.details = dict(details)
                    if last_sent is not None:
                        row.last_sent = last_sent
                return from_row(AlertInfo, row)
            except DBIntegrityError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def list_alert_states(self, *, site: str | None = None,
                          state: str | None = None) -> list[AlertInfo]:
        _check(state, ALERT_STATES, "alert state")
        query = select(AlertState).order_by(AlertState.site, AlertState.rule)
        if site is not None:
            query = query.where(AlertState.site == site)
        if state is not None:
            query = query.where(AlertState.state == state)
        with self._read() as session:
            return [from_row(AlertInfo, r) for r in session.scalars(query)]

    # --- drills -----------------------------------------------------------------------

    def add_drill_result(self, site: str, snapshot_id: str, ok: bool, *,
                         rto_seconds: float | None = None,
                         checks: list[dict[str, Any]] | None = None,
                         run_id: str | None = None,
                         created_at: datetime | None = None) -> DrillInfo:
        row = DrillResult(site=site, snapshot_id=snapshot_id, ok=ok, rto_seconds=rto_seconds,
                          checks=list(checks or []), run_id=run_id,
                          created_at=created_at or self._clock())
        with self._write() as session:
            session.add(row)
        return from_row(DrillInfo, row)

    def list_drill_results(self, *, site: str | None = None, ok: bool | None = None,
                           page: int = 1, per_page: int = 50) -> Page[DrillInfo]:
        """Drill results newest first."""
        query = select(DrillResult).order_by(DrillResult.created_at.desc(), DrillResult.id.desc())
        if site is not None:
            query = query.where(DrillResult.site == site)
        if ok is not None:
            query = query.where(DrillResult.ok == ok)
        rows, total = self._page(query, page, per_page)
        return Page([from_row(DrillInfo, r) for r in rows], total, page, per_page)

    # --- site configuration -----------------------------------------------------------

    def get_config(self, site: str) -> ConfigInfo | None:
        with self._read() as session:
            row = session.scalar(select(BackupConfig).where(BackupConfig.site == site))
            return None if row is None else from_row(ConfigInfo, row)

    def save_config(self, site: str, config_toml: str, updated_by: str = "") -> ConfigInfo:
        """Store a site's TOML (validated by the caller); ``version`` counts saves."""
        for attempt in (1, 2):
            try:
                with self._write() as session:
                    row = session.scalar(select(BackupConfig).where(BackupConfig.site == site))
                    if row is None:
                        row = BackupConfig(site=site, version=0)
                        session.add(row)
                    row.config_toml, row.updated_by = config_toml, updated_by
                    row.updated_at, row.version = self._clock(), row.version + 1
                return from_row(ConfigInfo, row)
            except DBIntegrityError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def list_config_sites(self) -> list[str]:
        with self._read() as session:
            return list(session.scalars(select(BackupConfig.site).order_by(BackupConfig.site)))


def _between(query: Select[Any], column: InstrumentedAttribute[datetime],
             since: datetime | None, until: datetime | None) -> Select[Any]:
    if since is not None:
        query = query.where(column >= since)
    if until is not None:
        query = query.where(column < until)
    return query
