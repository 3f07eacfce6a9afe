"""Finishing touches on the generated OpenAPI 3.1 document.

apiflask writes paths and bodies from the pydantic schemas; this adds what
the auth registry knows: the two security schemes (bearer token, session
cookie), per-operation ``security`` and the 401/403 answers of every
protected operation, 429 on login, and the one error schema everywhere.
"""

from __future__ import annotations

import re
from typing import Any

from flask import current_app

from sitesnap.web.auth import PUBLIC, PUBLIC_METRICS, route_rule
from sitesnap.web.state import web_state

__all__ = ["ERROR_SCHEMA", "finish_spec", "openapi_path"]

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error", "message", "exit_code"],
    "properties": {
        "error": {"type": "string", "description": "machine-readable code, e.g. snapshot_not_found"},
        "message": {"type": "string"},
        "hint": {"type": "string"},
        "exit_code": {"type": "integer", "description": "the CLI's exit code for the same error"},
        "problems": {"type": "array", "items": {"type": "string"},
                     "description": "one line per invalid field or config key (file:line: key: why)"},
    },
}
_VARIABLE = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
_AUTH_ERRORS = {"401": "not authenticated", "403": "the caller's role does not allow this"}


def openapi_path(rule: str) -> str:
    """``/api/v1/backup/<backup_id>`` → ``/api/v1/backup/{backup_id}``."""
    return _VARIABLE.sub(r"{\1}", rule)


def _error_response(description: str) -> dict[str, Any]:
    schema = {"$ref": "#/components/schemas/Error"}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def finish_spec(spec: dict[str, Any]) -> dict[str, Any]:
    components = spec.setdefault("components", {})
    components.setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    components["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer", "description": "an API token ('sitesnap token create')"},
        "session": {"type": "apiKey", "in": "cookie", "name": "sitesnap_session",
                    "description": "console session; unsafe methods also need the X-CSRF-Token header"},
    }
    metrics_public = web_state().public_metrics
    paths = spec.get("paths", {})
    for rule in current_app.url_map.iter_rules():
        operations = paths.get(openapi_path(rule.rule))
        if not operations:
            continue
        access = route_rule(current_app, rule.endpoint)
        for method in rule.methods or ():
            operation = operations.get(method.lower())
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            for status, response in responses.items():
                if status.startswith(("4", "5")):
                    response["content"] = _error_response("")["content"]
            if access == PUBLIC or (access == PUBLIC_METRICS and metrics_public):
                operation["security"] = []
            else:
                operation["security"] = [{"bearer": []}, {"session": []}]
                for status, text in _AUTH_ERRORS.items():
                    responses.setdefault(status, _error_response(text))
            responses.setdefault("400", _error_response("invalid request"))
            if rule.endpoint == "session.login":
                responses.setdefault("429", _error_response("too many login attempts"))
    return spec
