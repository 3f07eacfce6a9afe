"""Which restore targets hold live data, and the configuration that snapshots them before a restore.

A restore overwrites live data when its target is the source's own place
and exists, or when it is another place (``--to db=...``, ``--to
uploads=/srv/other``) that already holds data: a database with tables, a
non-empty directory or file.  Both are shown in the plan as overwritten,
need confirmation and get a ``pre-restore`` snapshot first.  For another
place, that snapshot is taken of the target itself: the site configuration
is copied with the source pointed at the target (:func:`aimed_at`), and the
snapshot is tagged ``target:<source>=<target>`` so it is restored back
there, not over the source's own place.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Protocol

from sitesnap.config import SiteConfig

__all__ = ["aimed_at", "occupied_path", "target_tags"]


class LiveItem(Protocol):
    source: str
    target: str
    in_place: bool
    raw_target: str


def occupied_path(path: str) -> bool:
    """A file with bytes or a directory with entries (a restore target that is not empty)."""
    try:
        if os.path.isdir(path):
            with os.scandir(path) as entries:
                return next(entries, None) is not None
        return os.path.getsize(path) > 0
    except OSError:
        return False


def aimed_at(cfg: SiteConfig, items: Iterable[LiveItem]) -> SiteConfig:
    """``cfg`` with each source restored to another place pointed at that place (``url`` or ``path``)."""
    moved = {i.source: i.raw_target or i.target for i in items if not i.in_place}
    if not moved:
        return cfg
    sources = []
    for spec in cfg.sources:
        if spec.name in moved:
            field = "url" if "url" in type(spec).model_fields else "path"
            spec = spec.model_copy(update={field: moved[spec.name]})
        sources.append(spec)
    return cfg.model_copy(update={"sources": sources})


def target_tags(items: Iterable[LiveItem]) -> list[str]:
    """``target:<source>=<target as shown>`` for every item restored to another place."""
    return [f"target:{i.source}={i.target}" for i in items if not i.in_place]
