"""The registry of source kinds: a config ``type`` maps to the class that implements it.

How to add a source kind (say ``sqlite-wal`` for continuous SQLite capture):

1. Write ``sitesnap/sources/<kind>.py`` with a class that subclasses
   :class:`~sitesnap.sources.kind.StreamSource` (a dump-shaped source) or
   :class:`~sitesnap.sources.kind.TreeSource` (a directory tree) and sets
   ``type``; implement ``from_config`` and the abstract methods.  A variant of
   an existing kind may subclass that kind instead.
2. Register it with one line in :data:`BUILTIN` below (``"type": "module:Class"``,
   imported on first use so an unused kind costs nothing at start-up), or from
   outside the package with :func:`register` before the source is opened.
3. Give the config schema the kind's settings.

Nothing in ``sitesnap.engine`` changes: the engine opens every source through
:func:`open_source` and asks the object, never its type string, what to do.
"""

from __future__ import annotations

import importlib

from sitesnap.errors import ConfigError
from sitesnap.sources.kind import SourceKind, SourceSpec

__all__ = ["BUILTIN", "find", "kinds", "lookup", "open_source", "register"]

# type (and aliases) -> "module:Class" of the built-in kinds, loaded lazily.
BUILTIN: dict[str, str] = {
    "files": "sitesnap.sources.files:FilesKind",
    "sqlite": "sitesnap.sources.sqlite:SqliteSource",
    "postgres": "sitesnap.sources.postgres:PostgresSource",
    "postgresql": "sitesnap.sources.postgres:PostgresSource",
    "mysql": "sitesnap.sources.mysql:MysqlSource",
    "mariadb": "sitesnap.sources.mysql:MysqlSource",
}

_registered: dict[str, type[SourceKind]] = {}


def register(type_name: str, cls: type[SourceKind]) -> None:
    """Register ``cls`` for sources of config ``type_name`` (replaces an earlier registration)."""
    _registered[type_name] = cls


def find(type_name: str) -> type[SourceKind] | None:
    """The class for ``type_name``, imported on first use; None for an unknown type."""
    cls = _registered.get(type_name)
    if cls is not None:
        return cls
    ref = BUILTIN.get(type_name)
    if ref is None:
        return None
    module, _, attr = ref.partition(":")
    loaded: type[SourceKind] = getattr(importlib.import_module(module), attr)
    _registered[type_name] = loaded
    return loaded


def lookup(type_name: str) -> type[SourceKind]:
    """The class for ``type_name``; :class:`ConfigError` naming the known types otherwise."""
    cls = find(type_name)
    if cls is None:
        raise ConfigError(f"unknown source type {type_name!r}", hint=f"Use one of: {', '.join(kinds())}.")
    return cls


def kinds() -> list[str]:
    """Every known source type, built-in and registered, in a stable order."""
    return sorted(set(BUILTIN) | set(_registered))


def open_source(spec: SourceSpec) -> SourceKind:
    """The source kind object for the configured source ``spec``."""
    return lookup(spec.type).from_config(spec)
