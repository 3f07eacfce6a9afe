"""Turn validation results into ``file:line: key.path: message`` lines.

pydantic reports errors by location tuples in its own words; users need the
line in their file, the key as they wrote it (``sources[1].type``) and a
sentence about their value.  :func:`describe_errors` does that for errors,
:func:`find_warnings` for values that are accepted but discouraged (secrets
written inline).  Both are pure: text in, text out.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from sitesnap.config.fields import SECRET_HINT, describe
from sitesnap.config.locator import KeyLocator, KeyPath
from sitesnap.secrets import SecretRef

__all__ = ["describe_errors", "find_warnings", "format_key"]

_TAGGED = {
    "sources": ("sqlite", "postgres", "mysql", "files"),
    "channels": ("email", "webhook", "slack", "dingtalk", "wecom"),
}
_EXPECTED = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "list_type": "an array",
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
    "timedelta_type": "a duration",
    "path_type": "a path",
}
_URL_KEYS = ("url", "broker", "catalog_url")
_BARE = re.compile(r"[A-Za-z0-9_-]+")


def format_key(path: KeyPath) -> str:
    """``("sources", 1, "type")`` → ``sources[1].type``; odd keys are quoted."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            text = part if _BARE.fullmatch(part) else f'"{part}"'
            out += f".{text}" if out else text
    return out


def _where(filename: str, locator: KeyLocator | None, path: KeyPath) -> str:
    line = f":{locator.line_of(path)}" if locator is not None else ""
    key = format_key(path)
    return f"{filename}{line}: {key}: " if key else f"{filename}{line}: "


def describe_errors(
    exc: ValidationError, data: Mapping[str, Any], filename: str, locator: KeyLocator | None
) -> list[str]:
    """One line per error, ordered by line, each naming file, line and key path."""
    problems: list[tuple[int, str]] = []
    for error in exc.errors(include_url=False):
        path, message = _explain(error, data)
        line = locator.line_of(path) if locator is not None else 0
        problems.append((line, _where(filename, locator, path) + message))
    problems.sort(key=lambda item: item[0])
    unique: list[str] = []
    for _, text in problems:
        if text not in unique:
            unique.append(text)
    return unique


def _explain(error: ErrorDetails, data: Mapping[str, Any]) -> tuple[KeyPath, str]:
    kind = error["type"]
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    if kind == "config_at":
        return _clean((*error["loc"], *ctx["at"]), data), str(ctx["message"])
    path = _clean(tuple(error["loc"]), data)
    value = error.get("input")
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        choices = _tag_choices(path)
        if kind == "union_tag_not_found":
            return (*path, "type"), f"missing required key (one of {choices}){_near_miss(data, path, 'type')}"
        return (*path, "type"), f"must be one of {choices} (got {ctx.get('tag')!r})"
    if kind == "missing":
        return path, f"missing required key{_near_miss(data, path[:-1], path[-1]) if path else ''}"
    if kind == "extra_forbidden":
        return path, "unknown key"
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace("'", "").replace(" or ", ", ")
        return path, f"must be one of {expected} (got {describe(value)})"
    if kind in _EXPECTED:
        return path, f"expected {_EXPECTED[kind]}, got {describe(value)}"
    return path, _reword(error["msg"])


def _near_miss(data: Mapping[str, Any], table: KeyPath, key: str | int) -> str:
    """`` (did you mean 'type' instead of 'tpye'?)`` when the table holds a key close to the missing one."""
    current: Any = data
    for part in table:
        in_table = isinstance(current, Mapping) and part in current
        in_list = isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current)
        if in_table or in_list:
            current = current[part]
        else:
            return ""
    if not isinstance(current, Mapping) or not isinstance(key, str):
        return ""
    close = difflib.get_close_matches(key, [str(k) for k in current if k != key], n=1, cutoff=0.6)
    return f" (did you mean {key!r} instead of {close[0]!r}?)" if close else ""


def _reword(message: str) -> str:
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            return message[len(prefix) :]
    message = message.replace("Input should be", "must be")
    message = re.sub(r"^List should have", "must have", message)
    return message[:1].lower() + message[1:]


def _clean(loc: KeyPath, data: Mapping[str, Any]) -> KeyPath:
    """Drop the union tags pydantic puts in locations (``sources.1.files.path``)."""
    out: list[str | int] = []
    current: Any = data
    for index, part in enumerate(loc):
        last = index == len(loc) - 1
        if isinstance(current, Mapping) and isinstance(part, str):
            if part in current:
                current = current[part]
            elif not last and current.get("type") == part:
                continue
            else:
                current = None
        elif isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            current = current[part]
        else:
            current = None
        out.append(part)
    return tuple(out)


def _tag_choices(path: KeyPath) -> str:
    for part in reversed(path):
        if isinstance(part, str) and part in _TAGGED:
            return ", ".join(_TAGGED[part])
    return "the documented types"


# -- warnings -----------------------------------------------------------------


def find_warnings(model: BaseModel, filename: str, locator: KeyLocator | None) -> list[str]:
    """``file:line: key: message`` for every inline secret and password inside a URL."""
    return [_where(filename, locator, path) + message for path, message in _walk_model(model, ())]


def _walk_model(model: BaseModel, path: KeyPath) -> Iterator[tuple[KeyPath, str]]:
    fields = type(model).model_fields
    for name, field in fields.items():
        key = field.alias or name
        value = getattr(model, name)
        if isinstance(value, str) and key in _URL_KEYS and _has_password(value):
            if "password" in fields:
                advice = 'use password = { env = "..." } or { file = "..." }'
            else:
                advice = "keep this file readable only by its owner"
            yield (*path, key), f"password written inline in the URL; {advice}"
        else:
            yield from _walk_value(value, (*path, key))


def _walk_value(value: object, path: KeyPath) -> Iterator[tuple[KeyPath, str]]:
    if isinstance(value, SecretRef) and value.value is not None:
        yield path, f"secret written inline; {SECRET_HINT}"
    elif isinstance(value, BaseModel):
        yield from _walk_model(value, path)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk_value(item, (*path, index))


def _has_password(url: str) -> bool:
    try:
        return bool(urlsplit(url).password)
    except ValueError:
        return False
