"""A file-like reader over a file node's blobs, for streaming dumps back into databases."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Protocol

from sitesnap.format.blob import DATA

__all__ = ["BlobReader"]


class _Loader(Protocol):
    def load_blobs(self, blob_type: int, blob_ids: list[bytes]) -> Iterator[bytes]: ...


class BlobReader(io.RawIOBase):
    """Reads blobs one at a time (each verified on load); memory is one chunk."""

    def __init__(self, loader: _Loader, content: list[bytes]) -> None:
        super().__init__()
        self._blobs = loader.load_blobs(DATA, content)
        self._buf = memoryview(b"")
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._buf:
            data = next(self._blobs, None)
            if data is None:
                return 0
            self._buf = memoryview(data)
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        self.bytes_read += n
        return n
