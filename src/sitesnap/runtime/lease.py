"""Catalog leases as context managers: one holder at a time across processes and hosts.

:class:`CatalogLease` wraps :class:`~sitesnap.catalog.Leases` with waiting,
renewal and take-over: a holder on this host whose process is gone is
replaced at once (as :mod:`.jobs.stale` does for runs); a holder elsewhere
is replaced when its lease expires, so a long holder must :meth:`renew`
well within ``ttl``.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from datetime import timedelta

from sitesnap.catalog import Catalog, LeaseInfo, Leases
from sitesnap.process import pid_alive

__all__ = ["CatalogLease", "describe_lease"]


def describe_lease(lease: LeaseInfo | None) -> str:
    """``pid 123 on host`` for messages; ``unknown holder`` when the lease vanished meanwhile."""
    if lease is None:
        return "unknown holder"
    return f"pid {lease.pid} on {lease.host}" if lease.pid is not None else f"holder on {lease.host}"


class CatalogLease:
    """Lease ``name`` in ``catalog`` for this object; not reusable by another thread while held."""

    def __init__(self, catalog: Catalog, name: str, ttl: timedelta) -> None:
        self.name = name
        self.ttl = ttl
        self.holder = uuid.uuid4().hex
        self._leases = Leases(catalog.engine)
        self._host = socket.gethostname()

    def holder_info(self) -> LeaseInfo | None:
        """Who holds the lease now (None when nobody does)."""
        return self._leases.get(self.name)

    def try_acquire(self) -> bool:
        """Take the lease if it is free, expired, ours, or held by a dead process on this host."""
        current = self._leases.get(self.name)
        dead = None
        if (current is not None and current.holder != self.holder and current.host == self._host
                and current.pid is not None and not pid_alive(current.pid)):
            dead = current.holder
        return self._leases.acquire(self.name, self.holder, self.ttl, host=self._host, pid=os.getpid(),
                                    replace=dead)

    def acquire(self, *, wait: float = 0.0, poll: float = 0.1) -> bool:
        """Try for up to ``wait`` seconds; True when held."""
        deadline = time.monotonic() + wait
        while not self.try_acquire():
            if time.monotonic() >= deadline:
                return False
            time.sleep(poll)
        return True

    def renew(self) -> bool:
        """Push the expiry ``ttl`` ahead; False when the lease was lost meanwhile."""
        return self._leases.acquire(self.name, self.holder, self.ttl, host=self._host, pid=os.getpid())

    def release(self) -> None:
        """Give the lease up; idempotent."""
        self._leases.release(self.name, self.holder)
