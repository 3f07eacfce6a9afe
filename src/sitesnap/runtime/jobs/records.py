"""BackupRecord fields from a snapshot: the one mapping used by backups and ``catalog rebuild``.

The catalog's record of a snapshot is derived from the snapshot alone (plus,
right after a backup, the write statistics of that run), so a record rebuilt
from the repository equals the one written when the backup ran, except for
the figures only the run knew (compression ratio, bytes sent).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sitesnap.catalog import BACKUP_TYPES
from sitesnap.format.snapshot import Snapshot

__all__ = ["record_fields", "record_type"]


def record_type(snapshot_type: str) -> str:
    """The catalog's backup type for a snapshot type (``manual`` path backups are ``snapshot``)."""
    return snapshot_type if snapshot_type in BACKUP_TYPES else "snapshot"


def _ratio(numerator: float, denominator: float) -> float | None:
    return round(numerator / denominator, 4) if numerator > 0 and denominator > 0 else None


def record_fields(snap: Snapshot, *, repository: str, location: str, run_id: str | None = None,
                  stored_plain: int = 0, stored_bytes: int = 0) -> dict[str, Any]:
    """Keyword arguments for ``Catalog.upsert_backup_record(snap.id, **fields)``.

    ``stored_plain``/``stored_bytes`` are the run's new blob bytes before and
    after compression and encryption; without them (rebuild) the compression
    ratio stays unknown.  The dedup ratio is the snapshot's logical size over
    the bytes it added.
    """
    summary = snap.summary
    total = int(summary.get("bytes_total", 0))
    added = int(summary.get("bytes_added", 0))
    duration = float(summary.get("duration", 0.0))
    rows = {rec["name"]: sum(rec["tables"].values()) for rec in snap.sources
            if isinstance(rec.get("tables"), dict) and "name" in rec}
    metadata = {
        "sources": snap.sources, "tags": list(snap.tags), "row_counts": rows, "paths": list(snap.paths),
        "parent": snap.parent, "snapshot_type": snap.type, "summary": summary,
        "program_version": snap.program_version, "username": snap.username,
    }
    return {
        "site": snap.site or "", "backup_type": record_type(snap.type), "status": "completed",
        "created_at": snap.time, "completed_at": snap.time + timedelta(seconds=duration),
        "location": location, "hostname": snap.hostname, "file_size": total,
        "compression_ratio": _ratio(stored_plain, stored_bytes),
        "dedup_ratio": _ratio(total, added) if added else None,
        "encryption_enabled": True,
        "storage_providers": {repository: {"ok": True, "error": None, "bytes_sent": stored_bytes or None,
                                           "reason": "backup" if run_id else "rebuild"}},
        "metadata": metadata, "duration": duration, "run_id": run_id,
    }
