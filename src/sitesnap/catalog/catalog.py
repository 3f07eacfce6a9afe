"""The catalog's API for the runtime and web layers: runs, records, audit, alerts, drills, configs, capture progress.

:class:`Catalog` is thread-safe: every call opens its own short session and
returns frozen dataclasses (:mod:`sitesnap.catalog.views`).  Write
transactions on SQLite begin ``IMMEDIATE`` so concurrent writers queue instead
of failing.  Values a user can pass (kinds, statuses, sort keys, pages) are
checked and raise :class:`UsageError`; a missing run raises
:class:`RecordNotFound`.  Its methods live with the records they serve:
:mod:`~sitesnap.catalog.runs`, :mod:`~sitesnap.catalog.records`,
:mod:`~sitesnap.catalog.history` and :mod:`~sitesnap.catalog.captures`, over :mod:`~sitesnap.catalog.store`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError, ProgrammingError

from sitesnap.catalog.captures import CaptureBook
from sitesnap.catalog.database import create_catalog_engine, redact_url
from sitesnap.catalog.history import History
from sitesnap.catalog.records import RecordBook
from sitesnap.catalog.runs import RunLog
from sitesnap.catalog.store import ALERT_STATES, BACKUP_TYPES, RECORD_STATUSES, RUN_KINDS, RUN_STATUSES, TRIGGERS
from sitesnap.errors import CatalogError

__all__ = ["ALERT_STATES", "BACKUP_TYPES", "HEAD_REVISION", "RECORD_STATUSES", "RUN_KINDS", "RUN_STATUSES",
           "TRIGGERS", "Catalog", "open_catalog"]


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


HEAD_REVISION = "0004"
"""The newest migration; a test keeps it equal to Alembic's head."""


def _at_head(engine: Engine) -> bool:
    """True when the database is already at :data:`HEAD_REVISION` (one cheap query, no Alembic)."""
    try:
        with engine.connect() as conn:
            row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
    except (OperationalError, ProgrammingError):
        return False
    return row is not None and row[0] == HEAD_REVISION


class Catalog(RunLog, RecordBook, History, CaptureBook):
    """Typed access to the catalog database; see the module docstring for guarantees."""
