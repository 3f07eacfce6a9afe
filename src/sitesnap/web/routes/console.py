"""The built console (Vue) served from ``sitesnap/web/static/console/``, when it is there.

The console is a single-page app: its files are public (they hold no data;
the API behind them checks every call), and any path that is not a file
gets ``index.html`` so the console's own routes survive a reload.  Paths
under ``api/`` never fall back: they are the API's 404s.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, send_from_directory
from werkzeug.exceptions import NotFound

from sitesnap.web.auth import public

__all__ = ["CONSOLE_DIR", "console_built", "make_console_blueprint"]

CONSOLE_DIR = Path(__file__).resolve().parent.parent / "static" / "console"


def console_built(directory: Path = CONSOLE_DIR) -> bool:
    return (directory / "index.html").is_file()


def make_console_blueprint(directory: Path = CONSOLE_DIR) -> Blueprint:
    bp = Blueprint("console", __name__)

    @bp.get("/")
    @public
    def index() -> Response:
        return _no_cache(send_from_directory(directory, "index.html"))

    @bp.get("/<path:path>")
    @public
    def asset(path: str) -> Response:
        if path.startswith(("api/", "metrics")):
            raise NotFound()
        if (directory / path).is_file():
            return send_from_directory(directory, path, max_age=3600)
        return _no_cache(send_from_directory(directory, "index.html"))

    return bp


def _no_cache(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-cache"
    return response
