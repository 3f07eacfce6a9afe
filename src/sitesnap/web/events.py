"""Server-sent events for one run: its progress until it ends.

The stream reads the run's row in the catalog (where the runner writes
throttled progress, whatever process runs the job), so it works the same
for a job in this process, another gunicorn worker or a Celery worker.
Events: ``progress`` (the latest progress, when it changed), ``status``
(when the status changed), then one ``end`` with the whole run; a comment
line every ``heartbeat`` seconds keeps proxies from closing an idle stream.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from sitesnap.catalog import Catalog

__all__ = ["FINAL", "run_events"]

FINAL = ("completed", "failed", "cancelled")


def _event(name: str, data: Any) -> str:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False, default=str)}\n\n"


def run_events(catalog: Catalog, run_id: str, *, poll: float = 0.5, heartbeat: float = 15.0,
               limit: float = 24 * 3600.0) -> Iterator[str]:
    """SSE text chunks for ``run_id`` until it ends (or ``limit`` seconds pass, or it vanishes)."""
    started = last_beat = time.monotonic()
    progress: dict[str, Any] | None = None
    status = ""
    yield "retry: 2000\n\n"
    while True:
        run = catalog.get_run(run_id)
        if run is None:
            yield _event("end", {"id": run_id, "status": "unknown"})
            return
        if run.status != status:
            status = run.status
            yield _event("status", {"id": run.id, "status": status})
        if run.progress and run.progress != progress:
            progress = dict(run.progress)
            yield _event("progress", progress)
        if run.status in FINAL:
            yield _event("end", run.to_dict())
            return
        now = time.monotonic()
        if now - started > limit:
            return
        if now - last_beat >= heartbeat:
            last_beat = now
            yield ": keep-alive\n\n"
        time.sleep(poll)
