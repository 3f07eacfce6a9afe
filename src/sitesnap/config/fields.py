"""Value types of the config: names, paths, secrets, durations, sizes, rates, crons.

Each is an ``Annotated`` type whose validator turns TOML text into a Python
value and whose serializer turns it back into TOML text, so a config read and
written again means the same thing.  Relative paths resolve against the
config file's directory, given as ``context={"base_dir": Path}`` when
validating (the current directory without it); when dumping with the same
context, paths inside that directory are written relative again.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    PlainSerializer,
    PlainValidator,
    SerializationInfo,
    ValidationInfo,
    WithJsonSchema,
)

from sitesnap.config.cron import parse_cron
from sitesnap.config.units import (
    DURATION_EXAMPLE,
    format_duration,
    format_rate,
    format_size,
    parse_duration,
    parse_rate,
    parse_size,
)
from sitesnap.secrets import SecretRef

__all__ = [
    "ConfigPath",
    "Cron",
    "Duration",
    "KeepFor",
    "Name",
    "Rate",
    "Secret",
    "Size",
    "base_dir",
    "describe",
    "relative_text",
    "resolve_path",
]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
SECRET_HINT = 'use { env = "..." } or { file = "..." }'


def describe(value: object) -> str:
    """How a wrong value is named in a message: ``integer 5``, ``string "yes"``, ``a table``."""
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"{'integer' if isinstance(value, int) else 'number'} {value}"
    if isinstance(value, str):
        return f'string "{value}"' if len(value) <= 40 else "a string"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__


def base_dir(info: ValidationInfo | SerializationInfo | None) -> Path | None:
    """The config file's directory from the validation or serialization context."""
    context = getattr(info, "context", None)
    if isinstance(context, dict):
        value = context.get("base_dir")
        if isinstance(value, Path):
            return value
    return None


def resolve_path(text: str, info: ValidationInfo | None) -> Path:
    """``text`` as an absolute, normalised path; relative ones start at the config's directory."""
    path = Path(os.path.expanduser(text))
    if not path.is_absolute():
        path = (base_dir(info) or Path.cwd()) / path
    return Path(os.path.normpath(path))


def relative_text(path: Path | str, info: SerializationInfo | None) -> str:
    """``path`` relative to the context's base directory when inside it, else absolute."""
    root = base_dir(info)
    text = str(path)
    if root is not None and Path(text).is_absolute():
        try:
            rel = Path(text).relative_to(root)
        except ValueError:
            return text
        return rel.as_posix() or "."
    return text


# -- names ----------------------------------------------------------------


def _check_name(value: str) -> str:
    if not _NAME.fullmatch(value) or value in (".", ".."):
        raise ValueError(
            f"invalid name {value!r}: use letters, digits, '.', '_' and '-', "
            "starting with a letter or digit, at most 64 characters"
        )
    return value


Name = Annotated[str, AfterValidator(_check_name)]
"""A name that is safe as one path segment and in URLs (sources, repositories, sites)."""


# -- paths ----------------------------------------------------------------


def _to_path(value: Any, info: ValidationInfo) -> Path:
    if isinstance(value, Path):
        return resolve_path(str(value), info)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected a path, got {describe(value)}")
    return resolve_path(value, info)


def _dump_path(value: Path, info: SerializationInfo) -> str:
    return relative_text(value, info)


ConfigPath = Annotated[
    Path,
    BeforeValidator(_to_path),
    PlainSerializer(_dump_path, return_type=str),
    WithJsonSchema({"type": "string", "description": "path, relative to the config file"}),
]


# -- secrets --------------------------------------------------------------


def _to_secret(value: Any, info: ValidationInfo) -> SecretRef:
    if isinstance(value, SecretRef):
        return value
    if isinstance(value, str):
        if not value:
            raise ValueError(f"empty secret; {SECRET_HINT}")
        return SecretRef(value=value)
    if isinstance(value, dict):
        unknown = sorted(set(value) - {"env", "file"})
        if unknown or len(value) != 1:
            what = f"unknown key {unknown[0]!r}; " if unknown else ""
            raise ValueError(f"{what}a secret is {{ env = \"NAME\" }} or {{ file = \"path\" }}")
        (kind, ref), = value.items()
        if not isinstance(ref, str) or not ref:
            raise ValueError(f"{kind}: expected a non-empty string, got {describe(ref)}")
        if kind == "env":
            return SecretRef(env=ref)
        return SecretRef(file=str(resolve_path(ref, info)))
    raise ValueError(f"expected a secret, got {describe(value)}; {SECRET_HINT}")


def _dump_secret(value: SecretRef, info: SerializationInfo) -> dict[str, str] | str:
    if value.env:
        return {"env": value.env}
    if value.file:
        return {"file": relative_text(value.file, info)}
    return value.value or ""


Secret = Annotated[
    SecretRef,
    PlainValidator(_to_secret),
    PlainSerializer(_dump_secret),
    WithJsonSchema(
        {
            "oneOf": [
                {"type": "object", "properties": {"env": {"type": "string"}}, "required": ["env"]},
                {"type": "object", "properties": {"file": {"type": "string"}}, "required": ["file"]},
                {"type": "string", "description": "inline secret (discouraged)"},
            ]
        }
    ),
]
"""A secret reference: ``{ env = "NAME" }``, ``{ file = "path" }``, or inline text (warned)."""


# -- durations, sizes, rates, crons ----------------------------------------


def _to_duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a duration, {DURATION_EXAMPLE}, got {describe(value)}")
    return parse_duration(value)


def _to_keep_for(value: Any) -> timedelta | None:
    if value is None or (isinstance(value, str) and value.strip().lower() == "forever"):
        return None
    return _to_duration(value)


def _dump_keep_for(value: timedelta | None) -> str:
    return "forever" if value is None else format_duration(value)


def _to_size(value: Any) -> int:
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ValueError(f'expected a size, e.g. "500GB", got {describe(value)}')
    return parse_size(value)


def _to_rate(value: Any) -> int:
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ValueError(f'expected a rate, e.g. "10MiB/s", got {describe(value)}')
    return parse_rate(value)


def _check_cron(value: str) -> str:
    if value.strip().lower() == "off":
        return "off"
    return parse_cron(value).expression


Duration = Annotated[
    timedelta,
    BeforeValidator(_to_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema({"type": "string", "examples": ["6h", "30d", "3 months"]}),
]
KeepFor = Annotated[
    timedelta | None,
    BeforeValidator(_to_keep_for),
    PlainSerializer(_dump_keep_for, return_type=str),
    WithJsonSchema({"type": "string", "examples": ["90d", "3 months", "forever"]}),
]
"""How long to keep something: a duration, or ``"forever"`` (None)."""
Size = Annotated[
    int,
    BeforeValidator(_to_size),
    PlainSerializer(format_size, return_type=str),
    WithJsonSchema({"type": "string", "examples": ["500GB", "1.5TiB"]}),
]
Rate = Annotated[
    int,
    BeforeValidator(_to_rate),
    PlainSerializer(format_rate, return_type=str),
    WithJsonSchema({"type": "string", "examples": ["10MiB/s"]}),
]
Cron = Annotated[str, AfterValidator(_check_cron)]
"""A five-field crontab expression, or ``"off"``."""
