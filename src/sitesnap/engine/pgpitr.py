"""PostgreSQL point-in-time recovery: the two entry points the continuous-capture kinds use.

:func:`open_capture` follows a ``postgres`` source with ``continuous =
true`` (physical base backups and its WAL, as log segments:
``engine/pgcapture.py``); :func:`restore_at` brings its database back as of
any second of the captured window (``engine/pgrestore.py``).  See
docs/postgres-pitr.md.
"""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path
from typing import Any

from sitesnap.engine.continuous import DEFAULT_INTERVAL, CaptureStats
from sitesnap.engine.pgcapture import PgCapture, server_address
from sitesnap.engine.pgrestore import restore_at as _restore_at
from sitesnap.engine.replay import RestoredAt
from sitesnap.repository.repository import Repository

__all__ = ["PgCapture", "open_capture", "postgres_sources", "restore_at", "run_pg_capture"]


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


def postgres_sources(cfg: Any) -> list[Any]:
    """The site's ``postgres`` sources with ``continuous = true``."""
    return [s for s in cfg.sources if getattr(s, "continuous", False) and s.type == "postgres"]


def run_pg_capture(repo: Repository, sources: list[Any], *, interval: float = DEFAULT_INTERVAL,
                   once: bool = False, stop: threading.Event | None = None) -> list[CaptureStats]:
    """Capture ``sources`` until ``stop`` is set (or once), under a shared repository lock.

    After ``stop`` is set, one last tick stores what was flushed meanwhile.
    """
    stop = stop or threading.Event()
    captures: list[PgCapture] = []
    with repo.lock(operation="capture"):
        repo.load_index()
        try:
            for source_cfg in sources:
                captures.append(open_capture(repo, source_cfg))
                captures[-1].start()
            while True:
                last = once or stop.is_set()
                for capture in captures:
                    capture.tick()
                if last:
                    break
                stop.wait(interval)
        finally:
            for capture in captures:
                capture.close()
    return [c.stats for c in captures]
