"""The web layer: REST API under ``/api/v1``, the console's files, ``/metrics``.

Public API::

    create_app(config=None, *, catalog_url=None, testing=False, host_user=None,
               start_job=None, settings=None) -> flask.Flask
    requires(role) / public                       # the auth-rule decorators
    web_state(app) -> WebState                    # app.extensions["sitesnap"]

Serve it with ``sitesnap serve`` (waitress, one process) or
any WSGI server calling ``sitesnap.web:create_app("sitesnap.toml")`` (docs/deployment.md).
"""

from __future__ import annotations

from sitesnap.web.app import create_app
from sitesnap.web.auth import public, requires
from sitesnap.web.state import WebState, web_state

__all__ = ["WebState", "create_app", "public", "requires", "web_state"]
