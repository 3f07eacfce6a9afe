"""What every part of the catalog shares: the engine, short sessions, paging, value checks.

Each call opens its own short session, so a :class:`Store` is thread-safe.
Write transactions on SQLite begin ``IMMEDIATE`` so concurrent writers
queue instead of failing.  The vocabularies below are the values a user
may pass; :func:`check` turns any other into a :class:`UsageError`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, Select, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from sitesnap.catalog.database import BEGIN_OPTION, redact_url
from sitesnap.errors import UsageError

__all__ = ["ALERT_STATES", "BACKUP_TYPES", "FINAL_STATUSES", "MAX_PER_PAGE", "RECORD_STATUSES", "RUN_KINDS",
           "RUN_STATUSES", "TRIGGERS", "Store", "between", "check", "like"]

RUN_KINDS = ("backup", "restore", "copy", "prune", "check", "drill", "forget")
RUN_STATUSES = ("queued", "running", "completed", "failed", "cancelled")
FINAL_STATUSES = ("completed", "failed", "cancelled")
TRIGGERS = ("user", "scheduler", "api", "cli", "celery")
RECORD_STATUSES = ("pending", "running", "completed", "failed")
BACKUP_TYPES = ("full", "incremental", "snapshot", "realtime", "pre-restore")
ALERT_STATES = ("firing", "resolved")
MAX_PER_PAGE = 500


def check(value: str | None, allowed: tuple[str, ...], what: str) -> None:
    """Refuse a value outside its vocabulary with the list of the allowed ones (None passes)."""
    if value is not None and value not in allowed:
        raise UsageError(f"unknown {what} {value!r}", hint=f"Use one of: {', '.join(allowed)}.")


def like(text: str) -> str:
    """A case-insensitive LIKE pattern for ``text`` anywhere, escaped with ``/``."""
    escaped = text.replace("/", "//").replace("%", "/%").replace("_", "/_")
    return f"%{escaped.lower()}%"


def between(query: Select[Any], column: InstrumentedAttribute[datetime],
            since: datetime | None, until: datetime | None) -> Select[Any]:
    """``query`` limited to ``since <= column < until`` (either bound optional)."""
    if since is not None:
        query = query.where(column >= since)
    if until is not None:
        query = query.where(column < until)
    return query


class Store:
    """The engine, its sessions and paging, shared by the catalog's parts."""

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
