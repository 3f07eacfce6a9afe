"""PostgreSQL point-in-time recovery: the two entry points the continuous-capture kinds use.

:func:`open_capture` follows a ``postgres`` source with ``continuous =
true`` (physical base backups and its WAL, as log segments:
``engine/pgcapture.py``); :func:`restore_at` brings its database back as of
any second of the captured window (``engine/pgrestore.py``).  See
docs/postgres-pitr.md.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from sitesnap.engine.pgcapture import PgCapture, server_address
from sitesnap.engine.pgrestore import restore_at as _restore_at
from sitesnap.engine.replay import RestoredAt
from sitesnap.repository.repository import Repository

__all__ = ["PgCapture", "open_capture", "restore_at"]


def open_capture(repo: Repository, source_cfg: Any, *, spool: Path | None = None) -> PgCapture:
    """A capture of ``source_cfg`` into ``repo``: call ``start()``, then ``tick()`` at an interval, ``close()``.

    The caller holds a shared repository lock and has loaded the index.
    ``spool`` is where streamed WAL waits until it is stored (default: a
    directory in the temp directory named after the repository and slot).
    """
    return PgCapture(repo, source_cfg.name, server_address(source_cfg), spool=spool)


def restore_at(repo: Repository, source_cfg: Any, at: datetime, target: str) -> RestoredAt:
    """Restore ``source_cfg``'s database as of ``at`` into ``target`` (a URL, empty, or ``datadir:/path``)."""
    return _restore_at(repo, source_cfg, at, target)
