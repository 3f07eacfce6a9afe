"""The built console (Vue) served from ``sitesnap/web/static/console/``, or a page saying how to build it.

The console is a single-page app: its files are public (they hold no data;
the API behind them checks every call), and any path that is not a file
gets ``index.html`` so the console's own routes survive a reload.  Paths
under ``api/`` never fall back: they are the API's 404s.

A wheel carries the built console; a source checkout has it only after
``npm run build`` in ``frontend/``.  A build counts only when ``index.html``
and every script and stylesheet it names are there: a leftover
``index.html`` whose assets are gone would otherwise be served as a blank
page.  Without a build, ``/`` answers with a short page that says how to
build (the API works either way).
"""

from __future__ import annotations

import re
from pathlib import Path

from flask import Blueprint, Response, send_from_directory
from werkzeug.exceptions import NotFound

from sitesnap.web.auth import public

__all__ = ["BUILD_COMMAND", "CONSOLE_DIR", "console_built", "make_console_blueprint", "make_unbuilt_blueprint"]

CONSOLE_DIR = Path(__file__).resolve().parent.parent / "static" / "console"
BUILD_COMMAND = "cd frontend && npm ci && npm run build"
# src="./assets/x.js" and href="./assets/x.css" in the page Vite writes.
_ASSET_REF = re.compile(r"""(?:src|href)=["']\.?/?(assets/[^"'?#]+)["']""")

UNBUILT_PAGE = f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>sitesnap: the console is not built</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 3em auto; line-height: 1.5">
<h1>sitesnap</h1>
<p>The web console is not built in this installation, so there is nothing to show here.
The REST API works: <a href="api/v1/health">api/v1/health</a>.</p>
<p>Build the console from the source tree, then restart <code>sitesnap serve</code>:</p>
<pre>{BUILD_COMMAND}</pre>
<p>An installed wheel (<code>pip install sitesnap[all]</code>) already contains it.</p>
</body>
</html>
"""


def console_built(directory: Path = CONSOLE_DIR) -> bool:
    """True when ``index.html`` and every asset it references exist in ``directory``."""
    index = directory / "index.html"
    try:
        page = index.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return False
    return all((directory / ref).is_file() for ref in _ASSET_REF.findall(page))


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


def make_unbuilt_blueprint() -> Blueprint:
    """``/`` explains how to build the console instead of showing an empty page."""
    bp = Blueprint("console", __name__)

    @bp.get("/")
    @public
    def index() -> Response:
        return _no_cache(Response(UNBUILT_PAGE, mimetype="text/html"))

    return bp


def _no_cache(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-cache"
    return response
