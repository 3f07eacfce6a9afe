"""Progress events flow upward through an injected sink.

The engine never prints.  It calls ``sink(event)`` with a :class:`Progress`
snapshot; the CLI renders a rich bar or JSON lines, the web layer forwards
server-sent events, Celery stores task state.  Sinks must be cheap and
thread-safe: the pipeline calls them from worker threads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["NULL_SINK", "Progress", "ProgressSink", "Tracker"]


@dataclass
class Progress:
    """One progress report.  ``total_*`` are 0 while unknown."""

    operation: str
    phase: str = ""
    files_done: int = 0
    files_total: int = 0
    bytes_done: int = 0
    bytes_total: int = 0
    bytes_new: int = 0
    elapsed: float = 0.0
    current: str = ""
    message: str = ""
    finished: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.bytes_done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        if not self.bytes_total or not self.rate or self.bytes_done >= self.bytes_total:
            return None
        return (self.bytes_total - self.bytes_done) / self.rate

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["rate"] = self.rate
        out["eta"] = self.eta
        return out


ProgressSink = Callable[[Progress], None]


def NULL_SINK(_: Progress) -> None:
    """Discard progress."""


class Tracker:
    """Thread-safe counters that report to a sink at most every ``interval`` seconds."""

    def __init__(self, operation: str, sink: ProgressSink = NULL_SINK, interval: float = 0.2) -> None:
        self._lock = threading.Lock()
        self._sink = sink
        self._interval = interval
        self._start = time.monotonic()
        self._last = 0.0
        self.state = Progress(operation=operation)

    def update(self, *, force: bool = False, **changes: Any) -> None:
        """Add to counters (``files_done=1`` adds 1) or set text fields."""
        with self._lock:
            for key, value in changes.items():
                current = getattr(self.state, key)
                if isinstance(current, int) and not isinstance(current, bool) and key.endswith(
                    ("_done", "_new")
                ):
                    setattr(self.state, key, current + value)
                else:
                    setattr(self.state, key, value)
            now = time.monotonic()
            if not force and now - self._last < self._interval:
                return
            self._last = now
            self.state.elapsed = now - self._start
            snapshot = Progress(**{**asdict(self.state), "extra": dict(self.state.extra)})
        self._sink(snapshot)

    def finish(self, message: str = "") -> None:
        self.update(force=True, finished=True, message=message)
