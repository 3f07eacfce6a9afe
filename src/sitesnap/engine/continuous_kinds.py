"""The registry of continuous kinds: how each source type is captured and restored to a second.

A continuous kind names two callables, imported on first use:

``open_capture(repo, source_cfg)``
    returns a capture object with ``start()`` (resume the log or take a new
    base), ``tick() -> int`` (ship what was committed since the last tick;
    returns the number of commits shipped) and ``close()``.  Capture options
    such as ``wal_limit`` are passed as keyword arguments only to a callable
    whose signature names them.
``restore_at(repo, source_cfg, at, target) -> RestoredAt``
    rebuilds the source as of ``at`` (an aware datetime) into ``target`` (a
    place nothing else uses: the site restore hands over a scratch target and
    loads the result through the source's normal restore path), verified.

Adding a kind is one line in :data:`BUILTIN`::

    "postgres": ContinuousKind("sitesnap.engine.pgpitr:open_capture", "sitesnap.engine.pgpitr:restore_at"),

Nothing else changes: :func:`~sitesnap.engine.continuous.run_capture`, the
site restore (``restore --at``), drills and the scheduler look kinds up here
by the source's config ``type``, never by a type string of their own.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from sitesnap.errors import ConfigError

if TYPE_CHECKING:
    from sitesnap.engine.replay import RestoredAt
    from sitesnap.repository.repository import Repository

__all__ = ["BUILTIN", "Capture", "ContinuousKind", "find", "is_continuous", "lookup", "open_capture", "restore_at"]


class Capture(Protocol):
    """One source's running capture (not thread-safe: one driver thread calls it)."""

    def start(self) -> None: ...

    def tick(self) -> int: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class ContinuousKind:
    """``module:attr`` references of a kind's two callables."""

    capture: str
    restore: str

    def open_capture_fn(self) -> Callable[..., Capture]:
        return _load(self.capture)  # type: ignore[no-any-return]

    def restore_at_fn(self) -> Callable[..., RestoredAt]:
        return _load(self.restore)  # type: ignore[no-any-return]


def _load(ref: str) -> Any:
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


# source type -> its continuous kind, loaded lazily.
BUILTIN: dict[str, ContinuousKind] = {
    "sqlite": ContinuousKind("sitesnap.engine.continuous:open_sqlite_capture",
                             "sitesnap.engine.replay:restore_sqlite_at"),
    "postgres": ContinuousKind("sitesnap.engine.pgpitr:open_capture", "sitesnap.engine.pgpitr:restore_at"),
    "mysql": ContinuousKind("sitesnap.engine.mypitr:open_capture", "sitesnap.engine.mypitr:restore_at"),
}


def find(type_name: str) -> ContinuousKind | None:
    """The continuous kind of sources of config ``type_name``; None when it has none."""
    return BUILTIN.get(type_name)


def lookup(type_name: str) -> ContinuousKind:
    """The continuous kind of ``type_name``; :class:`ConfigError` naming the known types otherwise."""
    kind = find(type_name)
    if kind is None:
        raise ConfigError(f"continuous capture is not available for {type_name} sources",
                          hint=f"Continuous sources can be of type: {', '.join(sorted(BUILTIN))}.")
    return kind


def is_continuous(source_cfg: Any) -> bool:
    """True for a source configured with ``continuous = true`` whose type has a continuous kind."""
    return bool(getattr(source_cfg, "continuous", False)) and find(source_cfg.type) is not None


def open_capture(repo: Repository, source_cfg: Any, **options: Any) -> Capture:
    """A capture of ``source_cfg`` into ``repo`` (not started); ``options`` go where the kind names them."""
    fn = lookup(source_cfg.type).open_capture_fn()
    accepted = inspect.signature(fn).parameters
    return fn(repo, source_cfg, **{k: v for k, v in options.items() if k in accepted})


def restore_at(repo: Repository, source_cfg: Any, at: datetime, target: str) -> RestoredAt:
    """``source_cfg`` rebuilt as of ``at`` into ``target`` by its kind (the index must be loaded)."""
    return lookup(source_cfg.type).restore_at_fn()(repo, source_cfg, at, target)
