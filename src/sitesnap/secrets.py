"""Secrets come only from references: ``{env = "NAME"}`` or ``{file = "path"}``.

Inline secrets in a config file are accepted with a warning by the config
layer; this module resolves references and never logs values.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sitesnap.errors import ConfigError

__all__ = ["SecretRef", "resolve"]


@dataclass(frozen=True)
class SecretRef:
    env: str | None = None
    file: str | None = None
    value: str | None = None

    def __repr__(self) -> str:  # never show the value
        if self.env:
            return f"SecretRef(env={self.env!r})"
        if self.file:
            return f"SecretRef(file={self.file!r})"
        return "SecretRef(<inline>)"


def resolve(ref: SecretRef, *, what: str = "secret") -> str:
    """Return the secret's value, or raise ConfigError naming the reference."""
    if ref.value is not None:
        return ref.value
    if ref.env:
        value = os.environ.get(ref.env)
        if value is None:
            raise ConfigError(f"{what}: environment variable {ref.env} is not set")
        return value
    if ref.file:
        try:
            return Path(ref.file).read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise ConfigError(f"{what}: cannot read {ref.file}: {exc.strerror}") from None
    raise ConfigError(f"{what}: give {{env = \"NAME\"}} or {{file = \"path\"}}")
