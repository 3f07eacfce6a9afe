"""Backup records: the catalog's copy of what each snapshot is, searchable and sortable.

Records are upserted (idempotent) as a backup and its copies progress, and
can be rebuilt from the repositories; deleting one leaves the snapshot alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import String, cast, func, or_, select
from sqlalchemy.exc import IntegrityError as DBIntegrityError
from sqlalchemy.orm import InstrumentedAttribute

from sitesnap.catalog.database import redact_url
from sitesnap.catalog.models import BackupRecord
from sitesnap.catalog.store import BACKUP_TYPES, RECORD_STATUSES, Store, between, check, like
from sitesnap.catalog.views import BackupRecordInfo, Page, from_row
from sitesnap.errors import UsageError

__all__ = ["RECORD_SORTS", "RecordBook"]

RECORD_SORTS = ("created_at", "completed_at", "file_size", "duration", "site", "backup_type",
                "status")


class RecordBook(Store):
    """Writing, finding and listing backup records."""

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
        check(status, RECORD_STATUSES, "backup status")
        check(backup_type, BACKUP_TYPES, "backup type")
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
        check(type, BACKUP_TYPES, "backup type")
        check(status, RECORD_STATUSES, "backup status")
        check(sort.lstrip("-"), RECORD_SORTS, "sort key")
        column: InstrumentedAttribute[Any] = getattr(BackupRecord, sort.lstrip("-"))
        order = column.desc() if sort.startswith("-") else column.asc()
        query = select(BackupRecord).order_by(order, BackupRecord.id.desc())
        for attr, value in ((BackupRecord.site, site), (BackupRecord.backup_type, type),
                            (BackupRecord.status, status)):
            if value is not None:
                query = query.where(attr == value)
        query = between(query, BackupRecord.created_at, since, until)
        if text:
            pattern = like(text)
            searched: list[Any] = [
                BackupRecord.backup_id, BackupRecord.site, BackupRecord.hostname,
                BackupRecord.location, cast(BackupRecord.meta, String)]
            query = query.where(or_(*(func.lower(c).like(pattern, escape="/") for c in searched)))
        rows, total = self._page(query, page, per_page)
        items = [from_row(BackupRecordInfo, r, metadata=r.meta) for r in rows]
        return Page(items, total, page, per_page)
