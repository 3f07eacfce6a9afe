"""Packs written straight into a temp file on a local disk, never held in memory.

Threads that seal blobs reserve a place in the open pack under the
repository's lock and write their blob there afterwards, in parallel
(``pwrite`` releases the GIL).  When the pack is closed the header and its
length are appended, the file is read back once to compute the pack's ID
(the BLAKE3 of the file, docs/format/v1.md section 6, which also proves what
reached the disk), and the file is published under that name: fsync, rename,
fsync of the directory, as ``LocalStorage.write`` does.  The file has exactly
the layout :class:`sitesnap.format.pack.PackBuilder` builds in memory.

A killed process leaves a temp file (``.tmp-pack.*``) that no listing shows
and no index refers to; the write order of section 11 is unchanged.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Protocol

from sitesnap.format.compress import Compressor
from sitesnap.format.crypto import Aead, storage_hasher
from sitesnap.format.pack import PackEntry, pack_trailer

__all__ = ["AppendFile", "FilePackBuilder"]

_HASH_BLOCK = 4 << 20


class AppendFile(Protocol):
    """What a storage backend's ``open_append`` returns (``LocalStorage`` has one)."""

    def pwrite(self, data: Any, offset: int) -> None: ...

    def read(self, offset: int, length: int) -> bytes: ...

    def commit(self, name: str) -> None: ...

    def abort(self) -> None: ...


class FilePackBuilder:
    """The open pack as a file; same bookkeeping as ``PackBuilder`` (``add`` under the caller's lock)."""

    def __init__(self, file: AppendFile) -> None:
        self._file = file
        self._size = 0
        self.entries: list[PackEntry] = []
        self._writing = 0
        self._done = threading.Condition()
        self._error: BaseException | None = None

    @property
    def size(self) -> int:
        return self._size

    def __len__(self) -> int:
        return len(self.entries)

    def add(
        self, blob_type: int, blob_id: bytes, sealed: bytes, plain_size: int, *, write_only: bool = False
    ) -> PackEntry:
        """Reserve the blob's place (the caller holds the repository lock); :meth:`write` fills it."""
        entry = PackEntry(blob_type, blob_id, self._size, len(sealed), plain_size, write_only)
        self._size += len(sealed)
        self.entries.append(entry)
        with self._done:
            self._writing += 1
        return entry

    def write(self, entry: PackEntry, sealed: bytes) -> None:
        """Write a reserved blob (outside the repository lock, in parallel with other writers)."""
        try:
            self._file.pwrite(sealed, entry.offset)
        except BaseException as exc:
            with self._done:
                self._error = self._error or exc
            raise
        finally:
            with self._done:
                self._writing -= 1
                self._done.notify_all()

    def finish(
        self, aead: Aead | None, compressor: Compressor, name_of: Callable[[bytes], str], *,
        public_key: bytes | None = None
    ) -> bytes:
        """Complete, name and publish the pack; returns its ID.  ``name_of(id) -> storage name``."""
        try:
            with self._done:
                self._done.wait_for(lambda: self._writing == 0)
                if self._error is not None:
                    raise self._error
            trailer = pack_trailer(self.entries, aead, compressor, public_key=public_key)
            self._file.pwrite(trailer, self._size)
            total = self._size + len(trailer)
            hasher = storage_hasher()
            for offset in range(0, total, _HASH_BLOCK):
                hasher.update(self._file.read(offset, min(_HASH_BLOCK, total - offset)))
            pack_id = hasher.digest()
            self._file.commit(name_of(pack_id))
        except BaseException:
            self._file.abort()
            raise
        return pack_id

    def abort(self) -> None:
        self._file.abort()
