"""Continuous capture in a background thread, for the processes that run a site (scheduler, serve).

:class:`CaptureThread` runs :func:`~sitesnap.engine.continuous.run_capture`
over every continuous source of the site until :meth:`CaptureThread.stop`,
which ends it after a last shipment (the final flush).  A source without a
log yet gets its base at start, as ``sitesnap capture`` does.  A failed run
(the repository unreachable, the database file gone) is logged and retried
after ``retry`` seconds: capture must outlive a passing fault, and every
restart begins a verified resume or a new generation, never a silent gap.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

from sitesnap.engine.continuous import DEFAULT_INTERVAL, CaptureStats, ProgressReport, run_capture
from sitesnap.engine.continuous_kinds import is_continuous
from sitesnap.repository.repository import Repository

__all__ = ["CaptureThread"]

log = logging.getLogger(__name__)

OpenRepository = Callable[[], AbstractContextManager[Repository]]


class CaptureThread:
    """A site's continuous capture on a daemon thread.

    ``start`` and ``stop`` are called from the thread that owns it;
    ``paused`` from any job thread (concurrent pauses share one stop).
    """

    def __init__(self, cfg: Any, open_repository: OpenRepository, *, interval: float = DEFAULT_INTERVAL,
                 retry: float = 5.0, on_progress: ProgressReport | None = None) -> None:
        self.sources = [s for s in cfg.sources if is_continuous(s)]
        self.on_progress = on_progress
        self.open_repository = open_repository
        self.interval = interval
        self.retry = retry
        self.stats: list[CaptureStats] = []
        self.failures = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pause_lock = threading.Lock()
        self._pauses = 0  # nested or concurrent paused() blocks
        self._resume = False  # whether the capture ran when the first of them began

    def start(self) -> bool:
        """Start capturing; False (and no thread) when the site has no continuous source."""
        if not self.sources or self._thread is not None:
            return bool(self.sources)
        self._thread = threading.Thread(target=self._run, name="sitesnap-capture", daemon=True)
        self._thread.start()
        return True

    def stop(self, timeout: float = 60.0) -> None:
        """Ship what was committed meanwhile, then end the thread (idempotent)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Stop (with a last shipment, releasing the repository lock) for the block, then start again.

        For work that needs the repository's exclusive lock (forget, prune).
        The restarted capture resumes its generation when the database
        provably continues it, and starts a new one otherwise.
        """
        with self._pause_lock:
            if self._pauses == 0:
                self._resume = self._thread is not None
                self.stop()
            self._pauses += 1
        try:
            yield
        finally:
            with self._pause_lock:
                self._pauses -= 1
                if self._pauses == 0 and self._resume:
                    self._stop = threading.Event()
                    self.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with self.open_repository() as repo:
                    run_capture(repo, self.sources, interval=self.interval, stop=self._stop,
                                on_tick=self._record, on_progress=self.on_progress)
            except Exception:
                self.failures += 1
                log.exception("capture: failed; retrying in %.0f s", self.retry)
                self._stop.wait(self.retry)

    def _record(self, stats: list[CaptureStats]) -> None:
        self.stats = stats
