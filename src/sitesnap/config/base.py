"""The base of every config table: strict types, no unknown keys, helpful typos.

A misspelt key must not be silently ignored (``exlude`` would back up the
cache folder forever), so every table forbids keys it does not know and says
which known key was probably meant.  Cross-field checks report the exact key
at fault through :func:`fail_at`, whose ``at`` path the loader appends to the
table's own position.
"""

from __future__ import annotations

import difflib
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic_core import PydanticCustomError

__all__ = ["ConfigModel", "fail_at", "unknown_key"]


def fail_at(at: tuple[str | int, ...], message: str) -> PydanticCustomError:
    """An error about the key ``at`` (relative to the table being validated)."""
    return PydanticCustomError("config_at", "{message}", {"message": message, "at": at})


def unknown_key(key: str, known: list[str]) -> PydanticCustomError:
    """The error for a key the table does not know, with the closest known key if any."""
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return fail_at((key,), f"unknown key {key!r}{hint}")


class ConfigModel(BaseModel):
    """A TOML table: strict types, unknown keys rejected with a suggestion."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        populate_by_name=True,
        validate_default=False,
    )
    doc_table: ClassVar[str] = ""  # how docs/config.md names this table, e.g. "[site]"

    @model_validator(mode="before")
    @classmethod
    def _no_unknown_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            known = [field.alias or name for name, field in cls.model_fields.items()]
            accepted = set(known) | set(cls.model_fields)
            for key in data:
                if key not in accepted:
                    raise unknown_key(str(key), known)
        return data

    @classmethod
    def toml_keys(cls) -> list[str]:
        """The keys this table accepts, as written in TOML."""
        return [field.alias or name for name, field in cls.model_fields.items()]
