"""Opening a site's repository inside a request (restore plans, forgetting snapshots).

Through :func:`sitesnap.engine.opening.open_target`, like every job: the
repository's configured password wins; otherwise ``SITESNAP_PASSWORD_FILE``
/ ``SITESNAP_PASSWORD`` from the server's environment — never the request.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sitesnap.config import SiteConfig
from sitesnap.engine.opening import environment_passwords, open_target, target_of
from sitesnap.repository.repository import Repository

__all__ = ["open_site_repository"]


@contextmanager
def open_site_repository(cfg: SiteConfig, name: str | None = None) -> Iterator[Repository]:
    """The site's repository ``name`` (default: the primary), opened with the server's password."""
    repo_cfg = cfg.repository(name) if name else cfg.primary
    repo = open_target(target_of(repo_cfg), environment_passwords())
    try:
        yield repo
    finally:
        repo.close()
