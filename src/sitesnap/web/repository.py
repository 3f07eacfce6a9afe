"""Opening a site's repository inside a request (restore plans, forgetting snapshots).

The same rules as every job (:func:`sitesnap.runtime.jobs.kinds.open_site_repository`):
the password comes from the site config's reference, else from
``SITESNAP_PASSWORD_FILE`` / ``SITESNAP_PASSWORD`` in the server's
environment — never from the request.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sitesnap.config import SiteConfig
from sitesnap.repository.repository import Repository
from sitesnap.runtime.jobs.kinds import open_site_repository as open_configured_repository

__all__ = ["open_site_repository"]


@contextmanager
def open_site_repository(cfg: SiteConfig) -> Iterator[Repository]:
    """The site's primary repository, opened with the server's password."""
    with open_configured_repository(cfg.primary) as repo:
        yield repo
