"""Shared plumbing for commands: options, password, opening the repository.

Every command opens resources through :class:`AppContext`, so the rules for
``-r``/``SITESNAP_REPOSITORY``, passwords and ``-c sitesnap.toml`` live here once.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import click

from sitesnap.cli.output import Output
from sitesnap.errors import UsageError, WriteOnlyError

if TYPE_CHECKING:
    from sitesnap.repository.repository import Repository

__all__ = ["AppContext", "given_new_password", "pass_app", "read_password_file"]


def read_password_file(path: str) -> str:
    """A password from a file, without the trailing line break.

    A file that cannot be read is the user's mistake: a UsageError, never a traceback.
    """
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read().rstrip("\r\n")
    except OSError as exc:
        raise UsageError(f"cannot read password file {path}: {exc.strerror}") from None


def given_new_password(new_password_file: str | None) -> str | None:
    """The new password if one was given (``--new-password-file`` or SITESNAP_NEW_PASSWORD); never prompts."""
    if new_password_file:
        return read_password_file(new_password_file)
    return os.environ.get("SITESNAP_NEW_PASSWORD") or None


@dataclass
class AppContext:
    repo_url: str | None = None
    password_file: str | None = None
    config_path: str | None = None
    write_only_key: str | None = None
    output: Output = field(default_factory=Output)
    limits: dict[str, int] = field(default_factory=dict)
    _site: Any = None
    _prompted: str | None = field(default=None, repr=False)

    # --- password ---------------------------------------------------------------

    def password(self, *, confirm: bool = False, prompt: str = "Repository password") -> str:
        """From --password-file, SITESNAP_PASSWORD_FILE, SITESNAP_PASSWORD, the site config, or a prompt.

        Refused with ``--write-only-key``: a command that needs the password
        is one a write-only host must not run.
        """
        if self.write_only_key:
            raise WriteOnlyError("this command needs the repository password")
        path = self.password_file or os.environ.get("SITESNAP_PASSWORD_FILE")
        if path:
            return read_password_file(path)
        if "SITESNAP_PASSWORD" in os.environ:
            return os.environ["SITESNAP_PASSWORD"]
        site_password = self._site_password()
        if site_password is not None:
            return site_password
        if not sys.stdin.isatty():
            raise UsageError(
                "no password given",
                hint="Set SITESNAP_PASSWORD or SITESNAP_PASSWORD_FILE, or run in a terminal to be asked.",
            )
        if confirm:
            return str(click.prompt(prompt, hide_input=True, confirmation_prompt=True, err=True))
        if self._prompted is None:  # asked once per command, however often it is needed
            self._prompted = str(click.prompt(prompt, hide_input=True, err=True))
        return self._prompted

    # --- site config ------------------------------------------------------------

    def site(self, *, required: bool = False) -> Any:
        """The loaded site config (``-c``, ``SITESNAP_CONFIG`` or ``./sitesnap.toml``), or None."""
        if self._site is not None:
            return self._site
        path = self.config_file()
        if path is None:
            if required:
                raise UsageError(
                    "this command needs a site configuration",
                    hint="Pass -c sitesnap.toml, set SITESNAP_CONFIG, or create one with 'sitesnap init-site'.",
                )
            return None
        from sitesnap.config import load_config

        self._site = load_config(path)
        for warning in getattr(self._site, "warnings", []):
            self.output.warn(warning)
        return self._site

    def config_file(self) -> str | None:
        """The config file :meth:`site` reads (``-c``, SITESNAP_CONFIG, ./sitesnap.toml), without loading it."""
        path = self.config_path or os.environ.get("SITESNAP_CONFIG")
        if path is None and os.path.exists("sitesnap.toml") and not self.repo_url:
            path = "sitesnap.toml"
        return path

    def _site_password(self) -> str | None:
        target = self._site_target(with_password=True)
        return target[2] if target else None

    def _site_target(self, *, with_password: bool = False) -> tuple[str, dict[str, Any], str | None] | None:
        """The configured repository in use: the primary, or the one ``-r`` names (by name or URL).

        ``-r offsite`` or ``-r s3://bucket/prefix`` with a site config picks up
        that repository's options and password; any other ``-r`` URL is used
        as given.
        """
        ref = self.repo_url or os.environ.get("SITESNAP_REPOSITORY")
        site = self.site()
        if site is None:
            return None
        from sitesnap.engine.opening import repository_target

        if not ref:
            return repository_target(site.primary, with_password=with_password)
        for repo_cfg in site.repositories:
            if ref in (repo_cfg.name, repo_cfg.url):
                return repository_target(repo_cfg, with_password=with_password)
        return None

    def repository_url(self) -> str:
        target = self._site_target()
        if target is not None:
            return target[0]
        ref = self.repo_url or os.environ.get("SITESNAP_REPOSITORY")
        if ref:
            return ref
        raise UsageError(
            "no repository given",
            hint="Use -r/--repo URL, set SITESNAP_REPOSITORY, or pass -c sitesnap.toml.",
        )

    def storage_options(self) -> dict[str, Any]:
        target = self._site_target()
        options = dict(target[1]) if target else {}
        options.update(self.limits)
        return options

    def warm_up_key(self, password: str | None = None) -> None:
        """Start the repository's key derivation in the background (see ``engine.opening.warm_up_key``).

        For commands that open the repository only after slow imports.  Does
        nothing with ``--write-only-key`` (no password) or when the password
        or repository cannot be had yet: the real open reports that.
        """
        if self.write_only_key:
            return
        from sitesnap.engine.opening import warm_up_key

        try:
            warm_up_key(self.repository_url(), password or self.password(), self.storage_options())
        except UsageError:
            return

    @contextmanager
    def open_repo(self) -> Iterator[Repository]:
        """The repository, unlocked with the password, or with ``--write-only-key`` for adding snapshots only."""
        if self.write_only_key:
            repo = self._open_write_only(self.write_only_key)
        else:
            from sitesnap.engine.opening import open_repository

            repo = open_repository(self.repository_url(), self.password(), self.storage_options())
        try:
            yield repo
        finally:
            repo.close()


    def _open_write_only(self, path: str) -> Repository:
        from sitesnap.repository.repository import Repository
        from sitesnap.repository.writeonly import WriteOnlyKey
        from sitesnap.storage.registry import open_storage

        try:
            with open(path, "rb") as fh:
                key = WriteOnlyKey.from_bytes(fh.read(), path)
        except OSError as exc:
            raise UsageError(f"cannot read write-only key {path}: {exc.strerror}") from None
        storage = open_storage(self.repository_url(), self.storage_options())
        try:
            return Repository.open_write_only(storage, key)
        except BaseException:
            storage.close()
            raise


pass_app = click.make_pass_decorator(AppContext, ensure=True)


@contextmanager
def open_site_catalog(cfg: Any) -> Iterator[Any]:
    """The site's catalog (``[runtime] catalog_url``), closed at the end of the block."""
    from sitesnap.catalog import open_catalog

    catalog = open_catalog(cfg.runtime.catalog_url)
    try:
        yield catalog
    finally:
        catalog.close()
