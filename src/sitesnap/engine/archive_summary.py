"""What a backup's archiving counted: the summary, and the batches unchanged files are counted in."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from sitesnap.sources.files import ScanWarning

__all__ = ["ArchiveSummary", "UnchangedBatch"]


@dataclass
class ArchiveSummary:
    files_new: int = 0
    files_changed: int = 0
    files_unchanged: int = 0
    dirs: int = 0
    bytes_read: int = 0
    bytes_total: int = 0
    bytes_added: int = 0
    tree_blobs_added: int = 0
    warnings: list[ScanWarning] = field(default_factory=list)
    changed_while_reading: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "files_new": self.files_new,
            "files_changed": self.files_changed,
            "files_unchanged": self.files_unchanged,
            "dirs": self.dirs,
            "bytes_read": self.bytes_read,
            "bytes_total": self.bytes_total,
            "bytes_added": self.bytes_added,
            "warnings": [{"path": w.path, "message": w.message} for w in self.warnings],
            "changed_while_reading": self.changed_while_reading,
        }


@dataclass
class UnchangedBatch:
    """One thread's unchanged files not yet added to the summary."""

    files: int = 0
    bytes: int = 0
    since: float = field(default_factory=time.monotonic)
