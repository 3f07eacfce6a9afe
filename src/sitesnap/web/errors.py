"""One JSON error shape for every failure: ``SitesnapError.to_dict()``.

``{"error": code, "message": text, "hint"?: text, "exit_code": n}`` with the
error's HTTP status, for sitesnap's own errors, for Flask's 404/405/429, for
request validation (422, with ``problems``: one line per bad field) and for
unexpected exceptions (500, logged with their traceback on the server; the
client sees no internals).  Config errors carry ``problems`` too
(``file:line: key: why``).
"""

from __future__ import annotations

from typing import Any

from apiflask import APIFlask
from apiflask.exceptions import HTTPError
from flask import Response, jsonify
from werkzeug.exceptions import HTTPException

from sitesnap.errors import NotAuthenticated, SitesnapError

__all__ = ["error_body", "install_error_handlers"]

_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
          405: "method_not_allowed", 409: "conflict", 413: "too_large", 415: "unsupported_media_type",
          422: "validation", 429: "rate_limited", 500: "internal", 503: "unavailable"}


def error_body(code: str, message: str, *, exit_code: int = 1, hint: str = "", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"error": code, "message": message, "exit_code": exit_code}
    if hint:
        body["hint"] = hint
    body.update(extra)
    return body


def _sitesnap_error(exc: SitesnapError) -> Response:
    body = exc.to_dict()
    problems = exc.kwargs.get("problems")
    if isinstance(problems, list):
        body["problems"] = [str(p) for p in problems]
    response = jsonify(body)
    response.status_code = exc.http_status
    if isinstance(exc, NotAuthenticated):
        response.headers["WWW-Authenticate"] = 'Bearer realm="sitesnap"'
    return response


def _http_error(exc: HTTPError) -> Response:
    status = exc.status_code
    extra: dict[str, Any] = {}
    message = exc.message or "error"
    if status == 422 and isinstance(exc.detail, dict):
        extra["problems"] = _problems(exc.detail)
        message = "invalid request: " + "; ".join(extra["problems"][:3])
    body = error_body(_CODES.get(status, "error"), message, exit_code=2 if 400 <= status < 500 else 1, **extra)
    response = jsonify(body)
    response.status_code = status
    headers = exc.headers or {}
    pairs = headers.items() if hasattr(headers, "items") else headers
    for key, value in pairs:
        if key.lower() != "content-type":
            response.headers[key] = value
    return response


def _problems(detail: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for location, fields in detail.items():
        if isinstance(fields, dict):
            for name, messages in fields.items():
                for message in messages if isinstance(messages, list) else [messages]:
                    out.append(f"{location}.{name}: {message}")
        else:
            out.append(f"{location}: {fields}")
    return out


def install_error_handlers(app: APIFlask) -> None:
    """Route every error of ``app`` into the one JSON shape."""

    @app.error_processor
    def _processor(exc: HTTPError) -> Response:
        return _http_error(exc)

    @app.errorhandler(SitesnapError)
    def _handle_sitesnap(exc: SitesnapError) -> Response:
        return _sitesnap_error(exc)

    @app.errorhandler(HTTPException)
    def _handle_werkzeug(exc: HTTPException) -> Response:
        status = exc.code or 500
        response = jsonify(error_body(_CODES.get(status, "error"), exc.description or exc.name,
                                      exit_code=2 if 400 <= status < 500 else 1))
        response.status_code = status
        for key, value in exc.get_headers():
            if key.lower() != "content-type":
                response.headers[key] = value
        return response

    @app.errorhandler(Exception)
    def _handle_unexpected(exc: Exception) -> Response:
        if isinstance(exc, HTTPException):
            return _handle_werkzeug(exc)
        app.logger.exception("unhandled error")
        response = jsonify(error_body("internal", "internal server error; see the server log"))
        response.status_code = 500
        return response
