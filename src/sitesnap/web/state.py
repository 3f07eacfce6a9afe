"""What one sitesnap web app holds: its site config, catalog, accounts and hooks.

Kept in ``app.extensions["sitesnap"]`` (no module-level state), so several
apps — a test's, a host app's — live side by side in one process.  The site
config can be replaced at runtime (``PUT /api/v1/backup/config``); readers
take :attr:`WebState.config` once per request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask, current_app

from sitesnap.catalog import Accounts, Catalog
from sitesnap.config import SiteConfig
from sitesnap.web.metrics_source import CachedMeasure

__all__ = ["EXTENSION_KEY", "HostUser", "JobStarter", "WebState", "web_state"]

EXTENSION_KEY = "sitesnap"

# (role, name) of the host application's logged-in user, or None.
HostUser = Callable[[], tuple[str, str] | None]
# kind, site config, params, actor -> run id (the work goes on in the background).
JobStarter = Callable[[str, SiteConfig, dict[str, Any], str], str]


@dataclass
class WebState:
    """Per-app state; ``config`` is swapped atomically under ``lock`` when saved."""

    config: SiteConfig
    config_path: Path | None
    catalog: Catalog
    accounts: Accounts
    start_job: JobStarter
    host_user: HostUser | None = None
    public_metrics: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    threads: list[threading.Thread] = field(default_factory=list)
    measure: CachedMeasure = field(default_factory=CachedMeasure)

    def replace_config(self, config: SiteConfig) -> None:
        with self.lock:
            self.config = config


def web_state(app: Flask | None = None) -> WebState:
    """The sitesnap state of ``app`` (default: the current app)."""
    target: Any = app if app is not None else current_app
    state: WebState = target.extensions[EXTENSION_KEY]
    return state
