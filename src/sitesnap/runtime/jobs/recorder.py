"""What a running job writes to its run row: throttled progress, a heartbeat, log lines.

The engine reports progress through a sink, often many times a second and
from worker threads.  :class:`RunRecorder` forwards every event to the
caller's sink (terminal bar, server-sent events) and stores the latest one in
the catalog at most once per ``interval``; a heartbeat thread rewrites it
every ``heartbeat`` seconds even when the engine is silent, so a run whose
process died can be told from a slow one (see :mod:`.stale`).
"""

from __future__ import annotations

import contextlib
import threading
import time
from datetime import UTC, datetime
from typing import Any

from sitesnap.catalog import Catalog
from sitesnap.progress import Progress, ProgressSink

__all__ = ["HEARTBEAT_SECONDS", "PROGRESS_INTERVAL", "RunRecorder"]

PROGRESS_INTERVAL = 1.0
HEARTBEAT_SECONDS = 15.0


class RunRecorder:
    """Progress sink and log for one run; thread-safe.  Call :meth:`close` when the run ends.

    Catalog failures while recording progress are swallowed (a backup must
    not fail because the progress row could not be written); the final
    status is written by the runner, which does not swallow them.
    """

    def __init__(self, catalog: Catalog, run_id: str, sink: ProgressSink | None = None, *,
                 interval: float = PROGRESS_INTERVAL, heartbeat: float = HEARTBEAT_SECONDS) -> None:
        self._catalog = catalog
        self._run_id = run_id
        self._sink = sink
        self._interval = interval
        self._lock = threading.Lock()
        self._latest: dict[str, Any] = {}
        self._dirty = False
        self._last_write = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, args=(heartbeat,), name=f"run-{run_id[:8]}-heartbeat",
                                        daemon=True)
        self._thread.start()

    def __call__(self, event: Progress) -> None:
        if self._sink is not None:
            self._sink(event)
        with self._lock:
            self._latest = event.to_dict()
            self._dirty = True
            due = event.finished or time.monotonic() - self._last_write >= self._interval
        if due:
            self.flush()

    def flush(self) -> None:
        """Write the latest progress (with a fresh heartbeat) now."""
        with self._lock:
            progress = {**self._latest, "heartbeat": datetime.now(UTC).isoformat()}
            self._dirty = False
            self._last_write = time.monotonic()
        # The database may be briefly unreachable; the final write is not swallowed.
        with contextlib.suppress(Exception):
            self._catalog.update_run_progress(self._run_id, progress)

    def log(self, message: str) -> None:
        """Append one timestamped line to the run's log."""
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
        with contextlib.suppress(Exception):
            self._catalog.append_run_log(self._run_id, f"{stamp} {message}\n")

    def _beat(self, period: float) -> None:
        while not self._stop.wait(min(period, self._interval)):
            with self._lock:
                due = self._dirty or time.monotonic() - self._last_write >= period
            if due:
                self.flush()

    def close(self) -> None:
        """Stop the heartbeat and write any progress not yet stored."""
        self._stop.set()
        self._thread.join()
        if self._dirty:
            self.flush()
