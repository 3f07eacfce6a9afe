"""Opening and creating repositories from a URL and a password.

The one place where a URL becomes a Storage (through the storage registry)
and a Storage becomes an unlocked Repository, shared by the CLI, the web API,
the scheduler and Celery workers.
"""

from __future__ import annotations

from typing import Any

from sitesnap.format.chunker import ChunkerParams
from sitesnap.repository.repository import Repository
from sitesnap.storage.registry import open_storage

__all__ = ["create_repository", "open_repository"]


def open_repository(url: str, password: str, options: dict[str, Any] | None = None) -> Repository:
    storage = open_storage(url, options)
    try:
        return Repository.open(storage, password)
    except BaseException:
        storage.close()
        raise


def create_repository(
    url: str,
    password: str,
    options: dict[str, Any] | None = None,
    *,
    kdf: dict[str, Any] | None = None,
    chunker: ChunkerParams | None = None,
) -> Repository:
    storage = open_storage(url, options)
    try:
        return Repository.init(storage, password, kdf=kdf, chunker=chunker)
    except BaseException:
        storage.close()
        raise
