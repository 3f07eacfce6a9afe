"""Spell single TOML keys and values (strings escaped, inline tables and arrays on one line).

The writer and the config template build files line by line, so comments and
table order stay theirs; this module only makes each ``key = value`` right.
``tomli_w`` escapes scalars; it is imported when a value is first written.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["toml_key", "toml_value"]

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def toml_key(key: str) -> str:
    """A bare key when possible, else a quoted one."""
    return key if _BARE_KEY.fullmatch(key) else _scalar(key)


def toml_value(value: Any) -> str:
    """``value`` as TOML on one line; dicts become inline tables."""
    if isinstance(value, dict):
        inner = ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items())
        return f"{{ {inner} }}" if inner else "{}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    return _scalar(value)


def _scalar(value: Any) -> str:
    import tomli_w  # only needed when writing

    return tomli_w.dumps({"v": value}).split(" = ", 1)[1].rstrip("\n")
