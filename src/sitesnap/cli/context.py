"""Shared plumbing for commands: options, password, opening the repository.

Every command opens resources through :class:`AppContext`, so the rules for
``-r``/``SITESNAP_REPOSITORY`` and ``-c sitesnap.toml`` live here once; which
password opens which repository is decided by :mod:`sitesnap.engine.opening`.
With a site config, ``-r NAME`` (or the URL of a configured repository)
selects that repository alone, for plain and site commands alike.
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
    from sitesnap.engine.opening import PasswordSource, RepositoryTarget
    from sitesnap.repository.repository import Repository

__all__ = ["AppContext", "given_new_password", "pass_app", "read_password_file"]


def read_password_file(path: str) -> str:
    """A password from a file (see :func:`sitesnap.engine.opening.read_password_file`)."""
    from sitesnap.engine.opening import read_password_file as read

    return read(path)


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

    def password_sources(self, *, confirm: bool = False,
                         prompt: str = "Repository password") -> list[PasswordSource]:
        """``--password-file``, SITESNAP_PASSWORD_FILE, SITESNAP_PASSWORD, then a prompt, in that order.

        These apply to a repository without a configured password of its own
        (:func:`sitesnap.engine.opening.choose_password`).  Refused with
        ``--write-only-key``: a command that needs the password is one a
        write-only host must not run.
        """
        if self.write_only_key:
            raise WriteOnlyError("this command needs the repository password")
        from sitesnap.engine.opening import environment_passwords, password_file

        return [password_file(self.password_file), *environment_passwords(), lambda: self._prompt(confirm, prompt)]

    def _prompt(self, confirm: bool, prompt: str) -> str:
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

    def password(self, *, confirm: bool = False, prompt: str = "Repository password") -> str:
        """The password of the repository in use: its configured one, else :meth:`password_sources`."""
        from sitesnap.engine.opening import choose_password

        return choose_password(self.target(), self.password_sources(confirm=confirm, prompt=prompt))

    def job_password(self, repo_cfg: Any) -> str | None:
        """The password to hand a recorded job for ``repo_cfg``: None when the repository has its own."""
        if repo_cfg.password is not None:
            return None
        from sitesnap.engine.opening import choose_password, target_of

        return choose_password(target_of(repo_cfg), self.password_sources())

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
        self._apply_global_options(self._site)
        return self._site

    def _apply_global_options(self, site: Any) -> None:
        """Lay ``--limit-upload``/``--limit-download`` over every configured repository; refuse what cannot apply.

        Site commands hand the config to recorded jobs, which open
        repositories from it: the limits must be in the config to reach them.
        A ``--password-file`` for a repository whose config names its own
        password would be ignored, so it is refused.
        """
        for repo_cfg in site.repositories:
            if "limit_upload" in self.limits:
                repo_cfg.limit_upload = self.limits["limit_upload"]
            if "limit_download" in self.limits:
                repo_cfg.limit_download = self.limits["limit_download"]
        chosen = self.repository_config()
        if self.password_file and chosen is not None and chosen.password is not None:
            raise UsageError(f"--password-file does not apply: repository {chosen.name} has its own password in "
                             f"{self.config_file()}", hint="Drop --password-file, or remove the password from the "
                             "repository's [[repositories]] entry.")

    def config_file(self) -> str | None:
        """The config file :meth:`site` reads (``-c``, SITESNAP_CONFIG, ./sitesnap.toml), without loading it."""
        path = self.config_path or os.environ.get("SITESNAP_CONFIG")
        if path is None and os.path.exists("sitesnap.toml") and not self.repo_url:
            path = "sitesnap.toml"
        return path

    def repository_config(self) -> Any:
        """The configured repository in use: the one ``-r`` names (by name or URL), else the primary.

        None without a site config, or when ``-r`` gives a URL the config does not list.
        """
        site = self.site()
        if site is None:
            return None
        ref = self.repo_url or os.environ.get("SITESNAP_REPOSITORY")
        if not ref:
            return site.primary
        return next((r for r in site.repositories if ref in (r.name, r.url)), None)

    def site_repository(self, cfg: Any, name: str | None = None) -> Any:
        """The repository of site ``cfg`` a site command works on: ``name``, else ``-r``'s, else the primary."""
        if name:
            return cfg.repository(name)
        chosen = self.repository_config()
        if chosen is None:
            raise UsageError(f"-r {self.repo_url or os.environ.get('SITESNAP_REPOSITORY')} is not a repository of "
                             f"site {cfg.site.name}", hint="Give the name of one of its [[repositories]].")
        return chosen

    def target(self) -> RepositoryTarget:
        """The repository in use (see :meth:`repository_config`), or ``-r URL`` as given; limits applied."""
        from sitesnap.engine.opening import target_of, url_target

        repo_cfg = self.repository_config()
        if repo_cfg is not None:
            return target_of(repo_cfg).with_options(self.limits)
        ref = self.repo_url or os.environ.get("SITESNAP_REPOSITORY")
        if ref:
            return url_target(ref, self.limits)
        raise UsageError(
            "no repository given",
            hint="Use -r/--repo URL, set SITESNAP_REPOSITORY, or pass -c sitesnap.toml.",
        )

    def repository_url(self) -> str:
        return self.target().url

    def storage_options(self) -> dict[str, Any]:
        return dict(self.target().options)

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
            target = self.target()
            warm_up_key(target.url, password or self.password(), target.options)
        except UsageError:
            return

    @contextmanager
    def open_repo(self) -> Iterator[Repository]:
        """The repository in use, unlocked with its password, or with ``--write-only-key`` for adding snapshots."""
        if self.write_only_key:
            repo = self._open_write_only(self.write_only_key)
        else:
            from sitesnap.engine.opening import open_target

            repo = open_target(self.target(), self.password_sources())
        try:
            yield repo
        finally:
            repo.close()

    def _open_write_only(self, path: str) -> Repository:
        from sitesnap.engine.opening import open_storage_of
        from sitesnap.repository.repository import Repository
        from sitesnap.repository.writeonly import WriteOnlyKey

        try:
            with open(path, "rb") as fh:
                key = WriteOnlyKey.from_bytes(fh.read(), path)
        except OSError as exc:
            raise UsageError(f"cannot read write-only key {path}: {exc.strerror}") from None
        storage = open_storage_of(self.target())
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
