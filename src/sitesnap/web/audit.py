"""Audit events for what callers change: who, what, which target, from where.

Details must never hold secrets: callers pass names, IDs and redacted URLs.
"""

from __future__ import annotations

from typing import Any

from flask import request

from sitesnap.web.auth import current_principal
from sitesnap.web.state import web_state

__all__ = ["audit"]


def audit(action: str, target: str = "", **details: Any) -> None:
    """Append an event for the current request's caller (``anonymous`` before login)."""
    principal = current_principal()
    actor = principal.actor if principal is not None else "anonymous"
    web_state().catalog.add_audit(actor, action, target, source_ip=request.remote_addr or "", details=details)
