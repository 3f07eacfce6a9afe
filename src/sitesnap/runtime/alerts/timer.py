"""Alerts on a clock: time-based rules (the RPO) fire although no run is recorded.

Runs are evaluated as they are recorded (:func:`~sitesnap.runtime.alerts.routing.evaluate_site_alerts`);
a backup that never happens records nothing, so every long-running process
(the scheduler, ``serve`` through its embedded scheduler, Celery workers)
also evaluates its site every ``interval`` seconds.  Several processes doing
so are harmless: the catalog lease and alert state de-duplicate them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sitesnap.catalog import Catalog
from sitesnap.config import SiteConfig
from sitesnap.runtime.alerts.routing import evaluate_site_alerts

__all__ = ["ALERT_INTERVAL", "AlertTimer"]

_log = logging.getLogger(__name__)
ALERT_INTERVAL = 60.0


class AlertTimer:
    """A daemon thread evaluating one site's alerts every ``interval`` seconds until :meth:`stop`.

    ``open_catalog`` gives the catalog to use for each evaluation (a shared
    one, or a fresh connection per round); ``close`` is called on it
    afterwards when ``owns_catalog``.  The first evaluation runs at once.
    """

    def __init__(self, cfg: SiteConfig, open_catalog: Callable[[], Catalog], *, interval: float = ALERT_INTERVAL,
                 owns_catalog: bool = False) -> None:
        self.cfg = cfg
        self.interval = interval
        self._open = open_catalog
        self._owns = owns_catalog
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"alerts-{cfg.site.name}", daemon=True)

    def start(self) -> AlertTimer:
        self._thread.start()
        return self

    def evaluate_once(self) -> None:
        """One evaluation; failures are logged, never raised (the timer keeps going)."""
        try:
            catalog = self._open()
        except Exception:
            _log.exception("alerts of site %s: catalog unavailable", self.cfg.site.name)
            return
        try:
            evaluate_site_alerts(catalog, self.cfg)
        finally:
            if self._owns:
                catalog.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.evaluate_once()
            self._stop.wait(self.interval)

    def stop(self, *, wait: bool = True) -> None:
        """Stop after the evaluation in progress (if any); idempotent."""
        self._stop.set()
        if wait and self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()
