"""Opening and creating repositories: the one place a repository and its password are chosen.

Every edge — the CLI, the web API, the jobs of the scheduler and of Celery
workers — describes the repository it wants as a :class:`RepositoryTarget`
(from a configured repository, :func:`target_of`, or a bare URL,
:func:`url_target`) and hands :func:`open_target` an ordered list of the
password sources it knows (``--password-file``, the environment, a prompt,
a password it was given).  One precedence rule then holds everywhere:

1. the repository's own configured password (``password = {env|file}``)
   wins for that repository;
2. otherwise the first source in the list that has a password.

A URL becomes a Storage through the storage registry, and the Storage an
unlocked Repository, only here.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sitesnap.errors import UsageError
from sitesnap.format.chunker import ChunkerParams
from sitesnap.repository import keys
from sitesnap.repository.repository import Repository
from sitesnap.secrets import SecretRef, resolve
from sitesnap.storage.base import Storage
from sitesnap.storage.registry import open_storage

if TYPE_CHECKING:  # the configuration models (pydantic) load only for commands that read a config
    from sitesnap.config import RepositoryConfig

__all__ = [
    "PasswordSource",
    "RepositoryTarget",
    "choose_password",
    "create_repository",
    "create_target",
    "environment_passwords",
    "given_password",
    "open_repository",
    "open_storage_of",
    "open_target",
    "opened_storage",
    "password_file",
    "read_password_file",
    "repository_target",
    "target_of",
    "url_target",
    "warm_up_key",
]

PasswordSource = Callable[[], "str | None"]
"""Returns a password, or None when it has none to offer (the next source is asked)."""


@dataclass(frozen=True)
class RepositoryTarget:
    """A repository to open: its name, URL, storage options and its own password reference, if any."""

    name: str
    url: str
    options: Mapping[str, Any] = field(default_factory=dict)
    own_password: SecretRef | None = None

    def with_options(self, extra: Mapping[str, Any]) -> RepositoryTarget:
        """The same target with ``extra`` storage options (e.g. bandwidth limits) laid over its own."""
        if not extra:
            return self
        return dataclasses.replace(self, options={**self.options, **extra})


def url_target(url: str, options: Mapping[str, Any] | None = None) -> RepositoryTarget:
    """A repository known only by its URL (``-r URL`` without a site configuration)."""
    return RepositoryTarget(url, url, dict(options or {}))


def target_of(repo_cfg: RepositoryConfig) -> RepositoryTarget:
    """A configured repository as a target; the secrets of its storage options are resolved here."""
    from sitesnap.config.storage import storage_options

    options = storage_options(repo_cfg)
    if repo_cfg.limit_upload:
        options["limit_upload"] = repo_cfg.limit_upload
    if repo_cfg.limit_download:
        options["limit_download"] = repo_cfg.limit_download
    if repo_cfg.append_only:
        options["append_only"] = True
    return RepositoryTarget(repo_cfg.name, repo_cfg.url, options, repo_cfg.password)


def repository_target(repo_cfg: RepositoryConfig) -> tuple[str, dict[str, Any], str | None]:
    """(url, storage options, own password) of a configured repository, for callers that list storage."""
    target = target_of(repo_cfg)
    own = resolve(target.own_password, what=f"repositories.{target.name}.password") if target.own_password else None
    return target.url, dict(target.options), own


# --- password sources -----------------------------------------------------------------------


def read_password_file(path: str) -> str:
    """A password from a file, without the trailing line break; an unreadable file is a UsageError."""
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read().rstrip("\r\n")
    except OSError as exc:
        raise UsageError(f"cannot read password file {path}: {exc.strerror}") from None


def given_password(password: str | None) -> PasswordSource:
    """A password the caller already holds (None: nothing to offer)."""
    return lambda: password


def password_file(path: str | None) -> PasswordSource:
    """The password in file ``path`` (None: nothing to offer); read only when it is asked for."""
    return lambda: read_password_file(path) if path else None


def environment_passwords() -> list[PasswordSource]:
    """``SITESNAP_PASSWORD_FILE``, then ``SITESNAP_PASSWORD``: the environment's sources, in that order."""
    return [lambda: password_file(os.environ.get("SITESNAP_PASSWORD_FILE"))(),
            lambda: os.environ.get("SITESNAP_PASSWORD")]


def choose_password(target: RepositoryTarget, sources: Sequence[PasswordSource]) -> str:
    """The password for ``target``: its own configured one, else the first of ``sources`` that has one.

    Raises :class:`UsageError` naming the repository when none has a password.
    """
    if target.own_password is not None:
        return resolve(target.own_password, what=f"repositories.{target.name}.password")
    for source in sources:
        password = source()
        if password is not None:
            return password
    raise UsageError(f"no password for repository {target.name!r}",
                     hint="Set its password in the site configuration, or SITESNAP_PASSWORD(_FILE).")


# --- opening --------------------------------------------------------------------------------


def open_storage_of(target: RepositoryTarget) -> Storage:
    """The storage of ``target``, not unlocked: for what needs no master key (listing its size,
    importing a key file, opening with a write-only key).  The caller closes it."""
    return open_storage(target.url, target.options)


@contextmanager
def opened_storage(target: RepositoryTarget) -> Iterator[Storage]:
    """:func:`open_storage_of` for a ``with`` block; a call that fails closes the storage."""
    storage = open_storage_of(target)
    try:
        yield storage
    finally:
        storage.close()


def open_target(target: RepositoryTarget, sources: Sequence[PasswordSource]) -> Repository:
    """Open ``target`` with the password :func:`choose_password` picks; the caller closes it."""
    return open_repository(target.url, choose_password(target, sources), target.options)


def create_target(
    target: RepositoryTarget,
    sources: Sequence[PasswordSource],
    *,
    kdf: dict[str, Any] | None = None,
    chunker: ChunkerParams | None = None,
) -> Repository:
    """Create an empty repository at ``target`` with the password :func:`choose_password` picks."""
    return create_repository(target.url, choose_password(target, sources), target.options, kdf=kdf,
                             chunker=chunker)


def open_repository(url: str, password: str, options: Mapping[str, Any] | None = None) -> Repository:
    """The repository at ``url``, unlocked with ``password``; the storage is closed if that fails."""
    storage = open_storage(url, options)
    try:
        return Repository.open(storage, password)
    except BaseException:
        storage.close()
        raise


def create_repository(
    url: str,
    password: str,
    options: Mapping[str, Any] | None = None,
    *,
    kdf: dict[str, Any] | None = None,
    chunker: ChunkerParams | None = None,
) -> Repository:
    """A new repository at ``url``; the storage is closed if creating it fails."""
    storage = open_storage(url, options)
    try:
        return Repository.init(storage, password, kdf=kdf, chunker=chunker)
    except BaseException:
        storage.close()
        raise


def warm_up_key(url: str, password: str, options: Mapping[str, Any] | None = None) -> threading.Thread:
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
