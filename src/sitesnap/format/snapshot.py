"""Snapshot objects: the roots of the repository.

A snapshot is a kind ``S`` envelope around JSON::

    {"time": "2026-11-25T12:00:00.123456+00:00", "tree": "<hex>", "paths": [...],
     "hostname": "...", "username": "...", "tags": [...], "type": "incremental",
     "parent": "<hex>|null", "site": "blog|null", "sources": [...],
     "summary": {...}, "program_version": "0.1.0", "original": "<hex>"}

``original`` is present only in copies made by ``sitesnap copy`` (absent
means null), so snapshots written before it existed read unchanged.
``reencrypted_from`` is present only in a snapshot re-sealed by ``sitesnap
key reencrypt``: the ID the same snapshot had before (its file was sealed
with an older master key, so the re-sealed file has a new ID).

Stored at ``snapshots/<storage id>``; its ID is that storage ID.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sitesnap.errors import IntegrityError

__all__ = ["SNAPSHOT_TYPES", "Snapshot"]

SNAPSHOT_TYPES = ("incremental", "full", "snapshot", "realtime", "pre-restore", "manual")


@dataclass
class Snapshot:
    time: datetime
    tree: bytes
    paths: list[str] = field(default_factory=list)
    hostname: str = ""
    username: str = ""
    tags: list[str] = field(default_factory=list)
    type: str = "manual"
    parent: str | None = None
    site: str | None = None
    sources: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    program_version: str = ""
    original: str | None = None  # the source snapshot's ID when this is a copy (``sitesnap copy``)
    reencrypted_from: str | None = None  # the ID before ``key reencrypt`` re-sealed it
    id: str = ""  # filled in when loaded or saved; not part of the stored JSON

    def to_json(self) -> dict[str, Any]:
        return {
            "time": self.time.isoformat(),
            "tree": self.tree.hex(),
            "paths": self.paths,
            "hostname": self.hostname,
            "username": self.username,
            "tags": self.tags,
            "type": self.type,
            "parent": self.parent,
            "site": self.site,
            "sources": self.sources,
            "summary": self.summary,
            "program_version": self.program_version,
            **({"original": self.original} if self.original else {}),
            **({"reencrypted_from": self.reencrypted_from} if self.reencrypted_from else {}),
        }

    @classmethod
    def from_json(cls, data: Any, snapshot_id: str) -> Snapshot:
        try:
            time = datetime.fromisoformat(data["time"])
            if time.tzinfo is None:
                raise ValueError("time has no time zone")
            return cls(
                time=time,
                tree=bytes.fromhex(data["tree"]),
                paths=[str(p) for p in data.get("paths", [])],
                hostname=str(data.get("hostname", "")),
                username=str(data.get("username", "")),
                tags=[str(t) for t in data.get("tags", [])],
                type=str(data.get("type", "manual")),
                parent=data.get("parent"),
                site=data.get("site"),
                sources=list(data.get("sources", [])),
                summary=dict(data.get("summary", {})),
                program_version=str(data.get("program_version", "")),
                original=str(data["original"]) if data.get("original") else None,
                reencrypted_from=str(data["reencrypted_from"]) if data.get("reencrypted_from") else None,
                id=snapshot_id,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise IntegrityError(f"snapshot {snapshot_id[:8]}: malformed ({exc})") from None

    @property
    def short_id(self) -> str:
        return self.id[:8]
