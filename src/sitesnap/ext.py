"""The Flask extension: sitesnap inside a host application.

::

    from sitesnap.ext import Sitesnap

    snap = Sitesnap(app)                       # or Sitesnap().init_app(app)
    snap = Sitesnap(app, role_loader=lambda user: "admin" if user.is_admin else None)

``init_app`` mounts the whole sitesnap web app — API, console files and
``/metrics`` — under a prefix (``SITESNAP_PREFIX``, default
``/admin/backups``) as a WSGI sub-application, so its error shape, security
headers and cookies stay its own; adds ``flask sitesnap ...`` with every
command of the ``sitesnap`` CLI; and, when no config is given (argument or
``SITESNAP_CONFIG`` in the host's config), writes one for the host app from
its ``SQLALCHEMY_DATABASE_URI`` and ``UPLOAD_FOLDER`` into
``<instance_path>/sitesnap.toml`` (repository: ``SITESNAP_REPOSITORY`` or
``<instance_path>/backups``; password from ``$SITESNAP_PASSWORD``) and uses
that file from then on.

Realtime snapshots from the host app: send the ``important_operation``
signal (or call :meth:`Sitesnap.trigger_realtime`) after a change worth a
snapshot; a burst of them becomes one ``realtime`` snapshot, taken by the
scheduler after the debounce window::

    from sitesnap.ext import important_operation
    important_operation.send(app, reason="post 42 published")

``role_loader(current_user) -> "admin" | "operator" | "viewer" | None``
ties the host's logged-in users to sitesnap roles: it gets Flask-Login's
``current_user`` when the host uses Flask-Login, else the host's ``session``
(only when not empty); sitesnap's own users and tokens work
alongside.  State lives in ``app.extensions["sitesnap"]`` (this object).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from blinker import Namespace
from flask import Flask, request
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from sitesnap.cli.main import cli
from sitesnap.config import SiteConfig, load_config
from sitesnap.config.detect import DetectedDatabase, DetectedSite, normalize_database_uri, render_config
from sitesnap.errors import ConfigError, SitesnapError
from sitesnap.web import create_app, web_state
from sitesnap.web.state import WebState

__all__ = ["DEFAULT_PREFIX", "Sitesnap", "config_for_host_app", "important_operation"]

DEFAULT_PREFIX = "/admin/backups"
RoleLoader = Callable[[Any], str | None]

_signals = Namespace()
important_operation = _signals.signal("sitesnap-important-operation")
"""Send with the host app as sender (and an optional ``reason``) to ask for a realtime snapshot."""


class Sitesnap:
    """Mounts sitesnap into Flask apps; one instance may serve several apps (factory pattern)."""

    def __init__(self, app: Flask | None = None, *, config: SiteConfig | str | os.PathLike[str] | None = None,
                 prefix: str | None = None, role_loader: RoleLoader | None = None,
                 catalog_url: str | None = None, settings: dict[str, Any] | None = None) -> None:
        self.config = config
        self.prefix = prefix
        self.role_loader = role_loader
        self.catalog_url = catalog_url
        self.settings = settings
        self.apps: dict[str, Flask] = {}
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Mount the API and console, add ``flask sitesnap``; raises ConfigError for a bad config."""
        prefix = "/" + str(self.prefix or app.config.get("SITESNAP_PREFIX") or DEFAULT_PREFIX).strip("/")
        cfg = self._site_config(app)
        api = create_app(cfg, catalog_url=self.catalog_url or app.config.get("SITESNAP_CATALOG_URL"),
                         host_user=self._host_user(app) if self.role_loader else None,
                         settings={"APPLICATION_ROOT": prefix, **(self.settings or {})})
        self.apps[app.name] = api
        app.wsgi_app = DispatcherMiddleware(app.wsgi_app, {prefix: api})  # type: ignore[method-assign]
        app.extensions["sitesnap"] = self
        app.cli.add_command(_command_group(cfg.path), "sitesnap")
        important_operation.connect(self._on_important_operation, sender=app, weak=False)

    def trigger_realtime(self, app: Flask, reason: str = "") -> int:
        """Record one realtime trigger for ``app``'s site; returns the triggers now pending."""
        from sitesnap.runtime.realtime import trigger

        return trigger(self.state(app).config, reason).count

    def _on_important_operation(self, sender: Flask, **extra: Any) -> None:
        self.trigger_realtime(sender, str(extra.get("reason", "")))

    def api_app(self, app: Flask) -> Flask:
        """The mounted sitesnap app of host ``app``."""
        return self.apps[app.name]

    def state(self, app: Flask) -> WebState:
        return web_state(self.api_app(app))

    def _site_config(self, app: Flask) -> SiteConfig:
        given = self.config or app.config.get("SITESNAP_CONFIG")
        if isinstance(given, SiteConfig):
            return given
        if given:
            return load_config(given)
        return load_config(config_for_host_app(app))

    def _host_user(self, app: Flask) -> Callable[[], tuple[str, str] | None]:
        loader = self.role_loader
        assert loader is not None

        def host_user() -> tuple[str, str] | None:
            # Run the host's own request handling (its session, Flask-Login) on this request.
            with app.request_context(request.environ):
                user = _host_current_user(app)
                if user is None:
                    return None
                role = loader(user)
                if role is None:
                    return None
                return role, _user_name(user)

        return host_user


def _host_current_user(app: Flask) -> Any:
    """Flask-Login's ``current_user`` when the host uses it (None if anonymous), else the host's session."""
    if getattr(app, "login_manager", None) is not None:
        from flask_login import current_user

        user = current_user._get_current_object()
        return user if getattr(user, "is_authenticated", False) else None
    from flask import session

    return session if session else None


def _user_name(user: Any) -> str:
    for attribute in ("username", "name", "email"):
        value = getattr(user, attribute, None)
        if isinstance(value, str) and value:
            return value
    getter = getattr(user, "get_id", None)
    return str(getter()) if callable(getter) else str(user)


def config_for_host_app(app: Flask) -> Path:
    """``<instance_path>/sitesnap.toml`` for the host app, written from its settings when missing."""
    instance = Path(app.instance_path)
    path = instance / "sitesnap.toml"
    if path.is_file():
        return path
    instance.mkdir(parents=True, exist_ok=True)
    root = Path(app.root_path)
    databases = []
    notes = []
    uri = app.config.get("SQLALCHEMY_DATABASE_URI")
    if uri:
        try:
            kind, location, password = normalize_database_uri(str(uri))
        except ValueError as exc:
            notes.append(f"SQLALCHEMY_DATABASE_URI: {exc}")
        else:
            if kind == "sqlite":
                file = Path(location).expanduser()
                if not file.is_absolute():
                    file = instance / file if (instance / file).exists() or not (root / file).exists() else root / file
                databases.append(DetectedDatabase("db", kind, "SQLALCHEMY_DATABASE_URI", path=file))
            else:
                databases.append(DetectedDatabase("db", kind, "SQLALCHEMY_DATABASE_URI", url=location,
                                                  password=password))
    upload = app.config.get("UPLOAD_FOLDER")
    detected = DetectedSite(name=app.name.replace("_", "-").strip("-.") or "site", spec=app.import_name,
                            root_path=root, instance_path=None, databases=tuple(databases),
                            upload_folder=(root / str(upload)).resolve() if upload else None, notes=tuple(notes))
    repo = str(app.config.get("SITESNAP_REPOSITORY") or instance / "backups")
    text = render_config(detected, repo, config_dir=instance)
    text += '\n[runtime]\nstate_dir = "sitesnap-state"\n'
    if not databases and detected.upload_folder is None:
        raise ConfigError(f"{app.name}: neither SQLALCHEMY_DATABASE_URI nor UPLOAD_FOLDER is set",
                          hint="Pass Sitesnap(app, config='sitesnap.toml') or set SITESNAP_CONFIG.")
    temp = path.with_name(".sitesnap.toml.tmp")
    temp.write_text(text, encoding="utf-8")
    os.replace(temp, path)
    return path


class _FlaskCommandGroup(click.Group):
    """The ``sitesnap`` CLI under ``flask``: same commands, same one-line errors and exit codes."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SitesnapError as exc:
            click.echo(f"sitesnap: error: {exc.message}", err=True)
            if exc.hint:
                click.echo(f"hint: {exc.hint}", err=True)
            ctx.exit(exc.exit_code)


def _command_group(config_path: Path | None) -> click.Group:
    # The root group's settings (-h, --help): click caches each command's help option on first use, so the
    # commands shared with the root group must see the same names from both groups.
    settings: dict[str, Any] = dict(cli.context_settings)
    if config_path is not None:
        settings["default_map"] = {"config_path": str(config_path)}
    return _FlaskCommandGroup("sitesnap", commands=dict(cli.commands), params=list(cli.params),
                              callback=cli.callback, help=cli.help, context_settings=settings)
