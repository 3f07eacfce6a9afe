"""Helpers backends share for reading their URL and options."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sitesnap.errors import ConfigError
from sitesnap.secrets import SecretRef, resolve

__all__ = ["RETRY_OPTIONS", "as_bool", "reject_unknown", "secret_value"]

RETRY_OPTIONS = frozenset({"retries", "deadline"})
"""Options of the retry wrapper a network backend's own table also accepts (``[repositories.s3]``),
so one place in ``sitesnap.toml`` sets how long a silent storage may hold a job."""


def reject_unknown(options: Mapping[str, Any], allowed: frozenset[str], kind: str) -> None:
    """Raise :class:`ConfigError` for option names a backend does not know.

    A typo in an option (``regoin``) must be an error, not a silently ignored setting.
    """
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ConfigError(
            f"unknown {kind} storage option(s): {', '.join(unknown)}",
            hint=f"Valid options: {', '.join(sorted(allowed)) or 'none'}.",
        )


def as_bool(value: Any) -> bool:
    """Read a boolean option given as a bool or as text from a config file or URL."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"expected a boolean, got {value!r}")


def secret_value(value: Any, what: str) -> str | None:
    """A secret option given as text, a :class:`SecretRef` or ``{env = ...}`` / ``{file = ...}``."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, Mapping) and set(value) <= {"env", "file"}:
        value = SecretRef(env=value.get("env"), file=value.get("file"))
    if isinstance(value, SecretRef):
        return resolve(value, what=what)
    raise ConfigError(f"{what}: expected text or a secret reference, got {type(value).__name__}")
