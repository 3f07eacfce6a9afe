"""Fixtures for the runtime tests; the servers themselves live in ``alert_servers``."""

from __future__ import annotations

from alert_servers import (  # noqa: F401  (fixtures are found by name)
    certificate,
    receiver,
    silent_port,
    smtp_plain,
    smtp_ssl,
    smtp_starttls,
)
