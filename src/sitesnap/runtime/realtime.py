"""Realtime backups: triggers after important operations, debounced into one snapshot.

:func:`trigger` records that the site just did something worth a snapshot
(a published post, a settings change).  Triggers accumulate in
``realtime-<site>.json`` in the state directory; once no trigger has come
for ``window`` seconds (or ``max_delay`` after the first, so a steady stream
cannot postpone it for ever), :func:`claim_due` hands the batch to exactly
one caller, which runs a single ``realtime`` backup.  The scheduler polls
every few seconds; without a scheduler, ``sitesnap trigger realtime --wait``
waits out the window itself (:func:`wait_and_run`).

A trigger that arrives while the backup runs starts a new batch, so what
changed after the snapshot began gets its own snapshot.  All functions are
safe across threads and processes (a file lock guards the batch file).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sitesnap.catalog import Catalog
from sitesnap.config import SiteConfig
from sitesnap.progress import ProgressSink
from sitesnap.runtime.jobs import FileLock, RunResult, run_job

__all__ = ["DEFAULT_MAX_DELAY", "DEFAULT_WINDOW", "PendingTrigger", "claim_due", "pending", "realtime_params",
           "trigger", "wait_and_run"]

DEFAULT_WINDOW = 60.0
DEFAULT_MAX_DELAY = 600.0
MAX_REASONS = 50


@dataclass
class PendingTrigger:
    """A batch of triggers not yet turned into a snapshot."""

    first: datetime
    last: datetime
    count: int = 0
    reasons: list[str] = field(default_factory=list)

    def due_at(self, window: float, max_delay: float = DEFAULT_MAX_DELAY) -> datetime:
        """When the batch becomes due: quiet for ``window``, or ``max_delay`` after the first trigger."""
        return min(self.last + timedelta(seconds=window), self.first + timedelta(seconds=max(window, max_delay)))

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["first"], out["last"] = self.first.isoformat(), self.last.isoformat()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PendingTrigger:
        return cls(datetime.fromisoformat(data["first"]), datetime.fromisoformat(data["last"]),
                   int(data.get("count", 0)), [str(r) for r in data.get("reasons", [])])


def _paths(cfg: SiteConfig) -> tuple[Path, FileLock]:
    state = Path(cfg.runtime.state_dir)
    return state / f"realtime-{cfg.site.name}.json", FileLock(state / f"realtime-{cfg.site.name}.lock")


def _read(path: Path) -> PendingTrigger | None:
    try:
        return PendingTrigger.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        return None  # a damaged batch file is replaced by the next trigger


def _write(path: Path, batch: PendingTrigger) -> None:
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(batch.to_dict()), encoding="utf-8")
    os.replace(tmp, path)


def trigger(site_cfg: SiteConfig, reason: str = "", *, now: datetime | None = None) -> PendingTrigger:
    """Record one trigger; returns the batch it joined.  Cheap: safe to call on every request."""
    path, lock = _paths(site_cfg)
    with lock.acquire(wait=10.0):
        now = now or datetime.now(UTC)
        batch = _read(path) or PendingTrigger(first=now, last=now)
        batch.last = max(batch.last, now)
        batch.count += 1
        if reason and len(batch.reasons) < MAX_REASONS:
            batch.reasons.append(reason)
        _write(path, batch)
    return batch


def pending(site_cfg: SiteConfig) -> PendingTrigger | None:
    """The batch waiting for its snapshot, if any."""
    return _read(_paths(site_cfg)[0])


def claim_due(site_cfg: SiteConfig, *, window: float = DEFAULT_WINDOW, max_delay: float = DEFAULT_MAX_DELAY,
              now: datetime | None = None) -> PendingTrigger | None:
    """Take the batch if it is due, so that exactly one caller backs it up; else None."""
    now = now or datetime.now(UTC)
    path, lock = _paths(site_cfg)
    with lock.acquire(wait=10.0):
        batch = _read(path)
        if batch is None or now < batch.due_at(window, max_delay):
            return None
        path.unlink(missing_ok=True)
    return batch


def realtime_params(batch: PendingTrigger) -> dict[str, Any]:
    return {"type": "realtime", "tags": ["realtime"], "reasons": batch.reasons, "triggers": batch.count}


def wait_and_run(site_cfg: SiteConfig, catalog: Catalog, *, window: float = DEFAULT_WINDOW,
                 max_delay: float = DEFAULT_MAX_DELAY, triggered_by: str = "cli", sink: ProgressSink | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> RunResult | None:
    """Wait until the pending batch is due and back it up; None if another process claimed it first."""
    while True:
        batch = pending(site_cfg)
        if batch is None:
            return None
        delay = (batch.due_at(window, max_delay) - datetime.now(UTC)).total_seconds()
        if delay > 0:
            sleep(min(delay, 1.0))
            continue
        claimed = claim_due(site_cfg, window=window, max_delay=max_delay)
        if claimed is not None:
            return run_job("backup", site_cfg, realtime_params(claimed), catalog=catalog, triggered_by=triggered_by,
                           sink=sink, lock_wait=max_delay)
