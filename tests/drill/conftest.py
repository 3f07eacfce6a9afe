"""Fixtures of the drill and monitoring tests: real databases, loopback alert receivers, a site on disk."""

from __future__ import annotations

from tests.runtime.alert_servers import receiver, smtp_plain  # noqa: F401 - fixtures re-exported
from tests.sources.conftest import my_db, pg_db  # noqa: F401 - fixtures re-exported
