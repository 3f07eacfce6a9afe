"""Opening a site's repository inside a request (restore plans, forgetting snapshots).

The password comes from the site config's reference, else from
``SITESNAP_PASSWORD_FILE`` / ``SITESNAP_PASSWORD`` in the server's
environment — never from the request.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from sitesnap.config import SiteConfig
from sitesnap.engine.opening import open_repository, repository_target
from sitesnap.errors import UsageError
from sitesnap.repository.repository import Repository

__all__ = ["open_site_repository", "server_password"]


def server_password(cfg: SiteConfig) -> str:
    """The primary repository's password as the server knows it; UsageError when it knows none."""
    password = repository_target(cfg.primary)[2]
    if password is None and os.environ.get("SITESNAP_PASSWORD_FILE"):
        path = os.environ["SITESNAP_PASSWORD_FILE"]
        try:
            with open(path, encoding="utf-8") as handle:
                password = handle.read().rstrip("\r\n")
        except OSError as exc:
            raise UsageError(f"cannot read password file {path}: {exc.strerror}") from None
    if password is None:
        password = os.environ.get("SITESNAP_PASSWORD")
    if password is None:
        raise UsageError(f"the server has no password for repository {cfg.primary.name!r}",
                         hint="Set the repository's password in the site configuration, or SITESNAP_PASSWORD(_FILE).")
    return password


@contextmanager
def open_site_repository(cfg: SiteConfig) -> Iterator[Repository]:
    url, options, _ = repository_target(cfg.primary)
    repo = open_repository(url, server_password(cfg), options)
    try:
        yield repo
    finally:
        repo.close()
