"""Leases: named locks with an expiry in the catalog, so processes on any host agree on who holds what.

A file lock only speaks for one machine and one state directory; a lease row
speaks for everyone sharing the catalog.  :meth:`Leases.acquire` is one
conditional write: it takes the lease when nobody holds it, when it expired,
when the caller already holds it (a renewal), or when the caller names the
dead holder it replaces.  The unique ``name`` makes two first takers race
safely: one insert wins, the other sees the conflict and reports the lease
taken.  Thread-safe like :class:`~sitesnap.catalog.Catalog`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, delete, or_, select, update
from sqlalchemy.exc import IntegrityError as DBIntegrityError
from sqlalchemy.orm import Session

from sitesnap.catalog.database import BEGIN_OPTION
from sitesnap.catalog.models import Lease
from sitesnap.catalog.views import _View, from_row

__all__ = ["LeaseInfo", "Leases"]


@dataclass(frozen=True)
class LeaseInfo(_View):
    name: str
    holder: str
    host: str
    pid: int | None
    acquired_at: datetime
    expires_at: datetime


class Leases:
    """Named leases over the catalog's engine (see the module docstring)."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] | None = None) -> None:
        self._writer = engine.execution_options(**{BEGIN_OPTION: "IMMEDIATE"})
        self._engine = engine
        self._clock = clock or (lambda: datetime.now(UTC))

    @contextmanager
    def _write(self) -> Iterator[Session]:
        with Session(self._writer, expire_on_commit=False) as session, session.begin():
            yield session

    def get(self, name: str) -> LeaseInfo | None:
        with Session(self._engine) as session:
            row = session.scalar(select(Lease).where(Lease.name == name))
            return None if row is None else from_row(LeaseInfo, row)

    def acquire(self, name: str, holder: str, ttl: timedelta, *, host: str = "", pid: int | None = None,
                replace: str | None = None) -> bool:
        """Take (or renew) lease ``name`` for ``ttl``; False while another live holder has it.

        ``replace`` names a holder known to be dead (its process is gone),
        whose lease may be taken before it expires.
        """
        now = self._clock()
        values = {"holder": holder, "host": host, "pid": pid, "expires_at": now + ttl}
        takeable = [Lease.expires_at <= now, Lease.holder == holder]
        if replace is not None:
            takeable.append(Lease.holder == replace)
        try:
            with self._write() as session:
                exists = session.scalar(select(Lease.id).where(Lease.name == name))
                if exists is None:
                    session.add(Lease(name=name, acquired_at=now, **values))
                    return True
                fresh = session.scalar(select(Lease.holder).where(Lease.name == name)) != holder
                if fresh:
                    values["acquired_at"] = now
                done = session.execute(update(Lease).where(Lease.name == name, or_(*takeable)).values(**values))
                return bool(done.rowcount)  # type: ignore[attr-defined]
        except DBIntegrityError:  # another process inserted the row first
            return False

    def release(self, name: str, holder: str) -> bool:
        """Give the lease up if ``holder`` still has it; idempotent."""
        with self._write() as session:
            done = session.execute(delete(Lease).where(Lease.name == name, Lease.holder == holder))
            return bool(done.rowcount)  # type: ignore[attr-defined]
