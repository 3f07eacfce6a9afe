"""The app factory: ``create_app(config)`` builds one sitesnap web app (API, console, /metrics).

No module-level app: a WSGI server calls ``sitesnap.web:create_app("sitesnap.toml")``,
tests and the Flask extension call the factory themselves, and every app
keeps its state in ``app.extensions["sitesnap"]``.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from apiflask import APIFlask

from sitesnap import __version__
from sitesnap.catalog import Accounts, open_catalog
from sitesnap.config import SiteConfig, load_config
from sitesnap.errors import UsageError
from sitesnap.web import auth
from sitesnap.web.errors import install_error_handlers
from sitesnap.web.jobs import thread_job_starter
from sitesnap.web.openapi import ERROR_SCHEMA, finish_spec
from sitesnap.web.routes import backups, runs, session, system, users
from sitesnap.web.routes.console import CONSOLE_DIR, console_built, make_console_blueprint, make_unbuilt_blueprint
from sitesnap.web.security import LOGIN_LIMIT, configure_security, login_limiter
from sitesnap.web.state import EXTENSION_KEY, HostUser, JobStarter, WebState

__all__ = ["create_app"]

SPEC_PATH = "/api/v1/openapi.json"


def _site_config(config: SiteConfig | str | os.PathLike[str] | None) -> SiteConfig:
    if isinstance(config, SiteConfig):
        return config
    if config is None:
        from sitesnap.config import find_config

        found = find_config()
        if found is None:
            raise UsageError("no site configuration",
                             hint="Pass create_app('sitesnap.toml'), set SITESNAP_CONFIG, or create one with "
                                  "'sitesnap init-site'.")
        config = found
    return load_config(config)


def create_app(config: SiteConfig | str | os.PathLike[str] | None = None, *, catalog_url: str | None = None,
               testing: bool = False, host_user: HostUser | None = None, start_job: JobStarter | None = None,
               settings: dict[str, Any] | None = None) -> APIFlask:
    """Build the web app for a site.

    ``config`` is a :class:`SiteConfig`, a path to ``sitesnap.toml`` or None
    (``$SITESNAP_CONFIG`` or ``./sitesnap.toml``).  ``catalog_url`` overrides
    the config's ``[runtime] catalog_url``.  ``host_user`` maps a host
    application's logged-in user to ``(role, name)`` (the Flask extension);
    ``start_job`` replaces the background-thread job starter; ``settings``
    are extra Flask config values (e.g. ``SITESNAP_LOGIN_LIMIT``, which the
    server's environment variable of that name also sets).  Raises
    ConfigError/CatalogError for a bad config or an unreachable catalog.
    """
    cfg = _site_config(config)
    catalog = open_catalog(catalog_url or cfg.runtime.catalog_url)
    app = APIFlask("sitesnap.web", title="sitesnap", version=__version__, spec_path=SPEC_PATH, docs_path=None,
                   static_folder=None)  # type: ignore[arg-type]  # None is Flask's documented "no static route"
    app.config.update(
        TESTING=testing,
        JSON_SORT_KEYS=False,
        SPEC_FORMAT="json",
        VALIDATION_ERROR_SCHEMA=ERROR_SCHEMA,
        HTTP_ERROR_SCHEMA=ERROR_SCHEMA,
        AUTO_404_RESPONSE=False,
        SITESNAP_LOGIN_LIMIT=os.environ.get("SITESNAP_LOGIN_LIMIT") or LOGIN_LIMIT,
        SITESNAP_SSE_POLL=0.5,
        INFO={"description": "Site snapshots and database backups. Errors: {error, message, hint?, exit_code}."},
    )
    app.config.update(settings or {})
    threads: list[threading.Thread] = []
    state = WebState(config=cfg, config_path=cfg.path if cfg.path and cfg.path.is_file() else None,
                     catalog=catalog, accounts=Accounts(catalog.engine),
                     start_job=start_job or thread_job_starter(catalog, threads), host_user=host_user,
                     public_metrics=cfg.web.public_metrics, threads=threads)
    app.extensions[EXTENSION_KEY] = state
    configure_security(app, cfg, testing=testing)
    install_error_handlers(app)
    for blueprint in (backups.bp, runs.bp, system.bp, session.bp, users.bp, system.metrics_bp):
        app.register_blueprint(blueprint)
    auth.requires("viewer")(app.view_functions["openapi.spec"])
    built = console_built(CONSOLE_DIR)
    app.register_blueprint(make_console_blueprint(CONSOLE_DIR) if built else make_unbuilt_blueprint())
    limiter = login_limiter(app, cfg)
    session.limit_login(app, limiter, str(app.config["SITESNAP_LOGIN_LIMIT"]))
    app.extensions["sitesnap_limiter"] = limiter
    app.before_request(auth.authorize)
    app.spec_processor(finish_spec)  # type: ignore[arg-type]  # apiflask passes the dict it is configured for
    return app
