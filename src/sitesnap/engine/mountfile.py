"""Random-access reads of a snapshot file's content, for the FUSE mount.

A file node holds the IDs of its chunks in order; the index knows each
chunk's plaintext length, so the offset of every chunk is known without
reading any data.  A read of ``size`` bytes at ``offset`` loads only the
chunks that overlap it, each verified by the repository on load, and keeps
the decoded chunks in a :class:`BlobCache` bounded in bytes, so sequential
reads in the kernel's 128 KiB pieces decode each chunk once.

A chunk that fails verification raises :class:`~sitesnap.errors.IntegrityError`:
the mount turns that into ``EIO``, never into wrong bytes.
"""

from __future__ import annotations

import bisect
import threading
from collections import OrderedDict
from typing import Protocol

from sitesnap.errors import IntegrityError
from sitesnap.format.blob import DATA

__all__ = ["DEFAULT_CACHE_BYTES", "BlobCache", "ContentMap", "ContentSource"]

DEFAULT_CACHE_BYTES = 64 << 20


class ContentSource(Protocol):
    def blob_location(self, blob_type: int, blob_id: bytes) -> tuple[bytes, int, int, int] | None: ...

    def load_blob(self, blob_type: int, blob_id: bytes) -> bytes: ...


class BlobCache:
    """Decoded data blobs, least recently used first out, at most ``max_bytes`` in total.

    Thread-safe: the mount serves reads from worker threads.  A blob larger
    than the whole cache is returned but not kept.
    """

    def __init__(self, source: ContentSource, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self._source = source
        self.max_bytes = max_bytes
        self._blobs: OrderedDict[bytes, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        """Bytes held now (never above ``max_bytes``)."""
        return self._size

    def get(self, blob_id: bytes) -> bytes:
        with self._lock:
            data = self._blobs.get(blob_id)
            if data is not None:
                self._blobs.move_to_end(blob_id)
                return data
        data = self._source.load_blob(DATA, blob_id)
        if len(data) <= self.max_bytes:
            with self._lock:
                if blob_id not in self._blobs:
                    self._blobs[blob_id] = data
                    self._size += len(data)
                while self._size > self.max_bytes:
                    _, old = self._blobs.popitem(last=False)
                    self._size -= len(old)
        return data


class ContentMap:
    """Where each chunk of one file starts; reads ranges through a :class:`BlobCache`."""

    def __init__(self, source: ContentSource, content: list[bytes], size: int, what: str) -> None:
        self.content = content
        self.starts: list[int] = []
        position = 0
        for blob_id in content:
            loc = source.blob_location(DATA, blob_id)
            if loc is None:
                raise IntegrityError(f"{what}: data blob {blob_id.hex()[:16]} is not in the index")
            self.starts.append(position)
            position += loc[3]
        if position != size:
            raise IntegrityError(f"{what}: chunks add up to {position} bytes, the snapshot records {size}")
        self.size = size

    def read(self, cache: BlobCache, offset: int, length: int) -> bytes:
        """Up to ``length`` bytes from ``offset`` (fewer at the end of the file)."""
        end = min(offset + length, self.size)
        if offset >= end:
            return b""
        index = bisect.bisect_right(self.starts, offset) - 1
        parts: list[bytes] = []
        position = offset
        while position < end:
            chunk = cache.get(self.content[index])
            start = self.starts[index]
            parts.append(chunk[position - start : end - start])
            position = start + len(chunk)
            index += 1
        return b"".join(parts)
