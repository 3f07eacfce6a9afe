"""Repositories named on the command line (``--from``, ``--to``, ``--copy-chunker-params-from``)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from sitesnap.cli.context import AppContext
from sitesnap.errors import UsageError

if TYPE_CHECKING:
    from sitesnap.engine.opening import PasswordSource, RepositoryTarget


def passwords_for(app: AppContext, password_file: str | None, env: str) -> list[PasswordSource]:
    """The command's own password option and variable (``--from-password-file``, ...), then the usual."""
    from sitesnap.engine.opening import password_file as from_file

    return [from_file(password_file), lambda: os.environ.get(env), *app.password_sources()]


def target_for(app: AppContext, spec: str | None) -> RepositoryTarget:
    """The repository a name or URL gives (``None``: the one in use)."""
    from sitesnap.engine.opening import target_of, url_target

    if spec is None:
        return app.target()
    cfg = app.site()
    if cfg is not None and any(r.name == spec for r in cfg.repositories):
        return target_of(cfg.repository(spec))
    if "://" not in spec and not os.path.isabs(spec) and not os.path.exists(spec):
        known = ", ".join(r.name for r in cfg.repositories) if cfg is not None else "none (no site config)"
        raise UsageError(f"{spec!r} is neither a configured repository ({known}) nor an existing path")
    return url_target(spec)
