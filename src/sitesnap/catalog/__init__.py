"""The catalog: a database of runs, backup records, audit events, alert states,
drill results and site configurations (SQLite by default; PostgreSQL or
MySQL/MariaDB for a central install).

The repositories stay the source of truth; the catalog is a cache of what
they hold plus the history of what sitesnap did, and can be rebuilt from them
through :meth:`Catalog.upsert_backup_record`.  :func:`open_catalog` creates
or upgrades the schema (Alembic, ``migrations/``) before returning.
"""

from __future__ import annotations

from sitesnap.catalog.accounts import ROLES, Accounts, TokenInfo, UserInfo, role_at_least
from sitesnap.catalog.captures import CaptureInfo
from sitesnap.catalog.catalog import (
    ALERT_STATES,
    BACKUP_TYPES,
    RECORD_STATUSES,
    RUN_KINDS,
    RUN_STATUSES,
    TRIGGERS,
    Catalog,
    open_catalog,
)
from sitesnap.catalog.database import catalog_url, redact_url
from sitesnap.catalog.leases import LeaseInfo, Leases
from sitesnap.catalog.views import (
    AlertInfo,
    AuditEntry,
    BackupRecordInfo,
    ConfigInfo,
    DrillInfo,
    Page,
    RunInfo,
)

__all__ = [
    "ALERT_STATES",
    "BACKUP_TYPES",
    "RECORD_STATUSES",
    "ROLES",
    "RUN_KINDS",
    "RUN_STATUSES",
    "TRIGGERS",
    "Accounts",
    "AlertInfo",
    "AuditEntry",
    "BackupRecordInfo",
    "CaptureInfo",
    "Catalog",
    "ConfigInfo",
    "DrillInfo",
    "LeaseInfo",
    "Leases",
    "Page",
    "RunInfo",
    "TokenInfo",
    "UserInfo",
    "catalog_url",
    "open_catalog",
    "redact_url",
    "role_at_least",
]
