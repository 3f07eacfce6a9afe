"""Opening and creating repositories from a URL and a password.

The one place where a URL becomes a Storage (through the storage registry)
and a Storage becomes an unlocked Repository, shared by the CLI, the web API,
the scheduler and Celery workers.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from sitesnap.format.chunker import ChunkerParams
from sitesnap.repository import keys
from sitesnap.repository.repository import Repository
from sitesnap.secrets import resolve
from sitesnap.storage.registry import open_storage

if TYPE_CHECKING:  # the configuration models (pydantic) load only for commands that read a config
    from sitesnap.config import RepositoryConfig

__all__ = ["create_repository", "open_repository", "repository_target", "warm_up_key"]


def open_repository(url: str, password: str, options: dict[str, Any] | None = None) -> Repository:
    storage = open_storage(url, options)
    try:
        return Repository.open(storage, password)
    except BaseException:
        storage.close()
        raise


def warm_up_key(url: str, password: str, options: dict[str, Any] | None = None) -> threading.Thread:
    """Derive the key for ``url`` and ``password`` in the background, for an :func:`open_repository` soon after.

    A site backup started from the command line imports its catalog and
    sources for a few hundred milliseconds before it opens the repository;
    the deliberately slow key derivation fits on the other core meanwhile.
    Errors are not reported here: the real open meets them again.
    """

    def work() -> None:
        try:
            storage = open_storage(url, options)
        except Exception:  # reported by the real open
            return
        try:
            keys.warm_up(storage, password)
        finally:
            storage.close()

    thread = threading.Thread(target=work, name="sitesnap-open-warm-up", daemon=True)
    thread.start()
    return thread


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


def repository_target(
    repo_cfg: RepositoryConfig, *, with_password: bool = True
) -> tuple[str, dict[str, Any], str | None]:
    """(url, storage options, password) for a configured repository; secrets resolved here.

    ``with_password=False`` leaves the password unresolved (None), for callers
    that take it from elsewhere first (``SITESNAP_PASSWORD``).
    """
    options: dict[str, Any] = {}
    where = f"repositories.{repo_cfg.name}"
    if repo_cfg.s3 is not None:
        s3 = repo_cfg.s3
        options["preset"] = s3.preset
        if s3.endpoint:
            options["endpoint"] = s3.endpoint
        if s3.region:
            options["region"] = s3.region
        if s3.addressing_style != "auto":
            options["addressing"] = s3.addressing_style
        if s3.access_key_id is not None:
            options["access_key_id"] = resolve(s3.access_key_id, what=f"{where}.s3.access_key_id")
        if s3.secret_access_key is not None:
            options["secret_access_key"] = resolve(s3.secret_access_key, what=f"{where}.s3.secret_access_key")
        if s3.object_lock is not None:
            options["object_lock_mode"] = s3.object_lock.mode
            options["object_lock_days"] = s3.object_lock.days
        if s3.endpoint and s3.endpoint.startswith("http://"):
            options["allow_http"] = True
    if repo_cfg.sftp is not None:
        sftp = repo_cfg.sftp
        if sftp.key_file is not None:
            options["key_file"] = str(sftp.key_file)
        if sftp.password is not None:
            options["password"] = resolve(sftp.password, what=f"{where}.sftp.password")
        if sftp.known_hosts is not None:
            options["known_hosts"] = str(sftp.known_hosts)
    if repo_cfg.limit_upload:
        options["limit_upload"] = repo_cfg.limit_upload
    if repo_cfg.limit_download:
        options["limit_download"] = repo_cfg.limit_download
    if repo_cfg.append_only:
        options["append_only"] = True
    password = None
    if with_password and repo_cfg.password is not None:
        password = resolve(repo_cfg.password, what=f"{where}.password")
    return repo_cfg.url, options, password
