"""The in-memory index of every blob in the repository.

Thread-safe.  Locations are tuples ``(pack_id, offset, length, plain_size)``
kept in one dict per blob type: compact enough for millions of blobs.  Blobs
whose current location holds them sealed to the public key (written by a
write-only host) are also kept in a set, so readers know how to open them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

from sitesnap.format.index import IndexFile
from sitesnap.format.pack import PackEntry

__all__ = ["Location", "MasterIndex"]

Location = tuple[bytes, int, int, int]


class MasterIndex:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._blobs: dict[int, dict[bytes, Location]] = {0: {}, 1: {}}
        self._write_only: set[tuple[int, bytes]] = set()
        self.index_ids: set[str] = set()

    def add_pack(self, pack_id: bytes, entries: list[PackEntry]) -> None:
        with self._lock:
            for e in entries:
                self._blobs.setdefault(e.type, {})[e.id] = (pack_id, e.offset, e.length, e.plain_size)
                if e.write_only:
                    self._write_only.add((e.type, e.id))
                elif self._write_only:
                    self._write_only.discard((e.type, e.id))

    def add_index(self, index_id: str, index: IndexFile) -> None:
        for pack_id, entries in index.packs.items():
            self.add_pack(pack_id, entries)
        with self._lock:
            self.index_ids.add(index_id)

    def has(self, blob_type: int, blob_id: bytes) -> bool:
        return blob_id in self._blobs.get(blob_type, {})

    def lookup(self, blob_type: int, blob_id: bytes) -> Location | None:
        return self._blobs.get(blob_type, {}).get(blob_id)

    def is_write_only(self, blob_type: int, blob_id: bytes) -> bool:
        """Whether the blob's location holds it sealed to the public key."""
        return (blob_type, blob_id) in self._write_only

    def count(self, blob_type: int | None = None) -> int:
        if blob_type is None:
            return sum(len(d) for d in self._blobs.values())
        return len(self._blobs.get(blob_type, {}))

    def items(self) -> Iterator[tuple[int, bytes, Location]]:
        with self._lock:
            snapshot = [(t, dict(d)) for t, d in self._blobs.items()]
        for blob_type, blobs in snapshot:
            for blob_id, loc in blobs.items():
                yield blob_type, blob_id, loc

    def packs(self) -> dict[bytes, list[PackEntry]]:
        """Pack id -> entries, rebuilt from the blob map."""
        out: dict[bytes, list[PackEntry]] = {}
        for blob_type, blob_id, (pack_id, offset, length, plain) in self.items():
            write_only = (blob_type, blob_id) in self._write_only
            out.setdefault(pack_id, []).append(PackEntry(blob_type, blob_id, offset, length, plain, write_only))
        for entries in out.values():
            entries.sort(key=lambda e: e.offset)
        return out
