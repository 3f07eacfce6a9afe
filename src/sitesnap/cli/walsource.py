"""Which postgres source ``wal-push`` and ``wal-fetch`` work for."""

from __future__ import annotations

from typing import Any

from sitesnap.cli.context import AppContext
from sitesnap.errors import UsageError


def postgres_source(app: AppContext, name: str | None) -> Any:
    """The named postgres source, else the only one with ``continuous = true``; UsageError otherwise."""
    cfg = app.site(required=True)
    found = [s for s in cfg.sources if s.type == "postgres" and (s.name == name if name else s.continuous)]
    if len(found) != 1:
        what = f"no postgres source named {name!r}" if name else (
            "no postgres source has continuous = true" if not found else "several postgres sources are continuous")
        raise UsageError(what, hint="Name it with --source NAME (see [[sources]] in the site config).")
    return found[0]
