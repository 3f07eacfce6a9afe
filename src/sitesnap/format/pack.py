"""Pack files: many blobs in one storage object (16-64 MiB), few objects on S3.

Layout::

    blob_0 | blob_1 | ... | blob_n-1 | header envelope | header length (u32 LE)

The header envelope (kind ``P``) holds, per blob, ``type(1) id(32) length(u32)
plain_size(u32)``; offsets follow from the order.  The pack's name is the
unkeyed BLAKE3 of the whole file, so the index can be rebuilt from packs
alone (``repair``) and any damage is detectable without the key.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sitesnap.errors import IntegrityError
from sitesnap.format.compress import Compressor
from sitesnap.format.envelope import KIND_PACK_HEADER, open_envelope, seal_envelope

__all__ = ["PackBuilder", "PackEntry", "decode_pack_header", "split_pack_tail"]

_ENTRY = struct.Struct("<B32sII")
_TAIL = struct.Struct("<I")


@dataclass(frozen=True)
class PackEntry:
    type: int
    id: bytes
    offset: int
    length: int
    plain_size: int


class PackBuilder:
    """Accumulates sealed blobs in memory; not thread-safe (the caller holds a lock)."""

    def __init__(self) -> None:
        # Sealed blobs are kept as they are and joined once in finish(): growing
        # one buffer would copy every blob again and leave freed arenas behind.
        self._parts: list[bytes] = []
        self._size = 0
        self.entries: list[PackEntry] = []

    @property
    def size(self) -> int:
        return self._size

    def __len__(self) -> int:
        return len(self.entries)

    def add(self, blob_type: int, blob_id: bytes, sealed: bytes, plain_size: int) -> PackEntry:
        entry = PackEntry(blob_type, blob_id, self._size, len(sealed), plain_size)
        self._parts.append(sealed)
        self._size += len(sealed)
        self.entries.append(entry)
        return entry

    def finish(self, aead: AESGCM, compressor: Compressor) -> bytes:
        """The complete pack file's bytes."""
        header = b"".join(_ENTRY.pack(e.type, e.id, e.length, e.plain_size) for e in self.entries)
        sealed = seal_envelope(aead, compressor, KIND_PACK_HEADER, header)
        self._parts.append(sealed)
        self._parts.append(_TAIL.pack(len(sealed)))
        raw = b"".join(self._parts)
        self._parts = []
        return raw


def split_pack_tail(tail: bytes, pack_size: int, what: str) -> int:
    """From the last 4 bytes, the header envelope's length (validated)."""
    if len(tail) < _TAIL.size:
        raise IntegrityError(f"{what} is too short to be a pack")
    (length,) = _TAIL.unpack(tail[-_TAIL.size :])
    if length <= 0 or length + _TAIL.size > pack_size:
        raise IntegrityError(f"{what}: header length {length} is impossible")
    return int(length)


def decode_pack_header(aead: AESGCM, sealed_header: bytes, header_offset: int, what: str) -> list[PackEntry]:
    """Entries of a pack from its sealed header; checks they tile the data area exactly."""
    raw = open_envelope(aead, sealed_header, KIND_PACK_HEADER, f"{what} header")
    if len(raw) % _ENTRY.size:
        raise IntegrityError(f"{what}: header has a partial entry")
    entries: list[PackEntry] = []
    offset = 0
    for blob_type, blob_id, length, plain_size in _ENTRY.iter_unpack(raw):
        entries.append(PackEntry(blob_type, blob_id, offset, length, plain_size))
        offset += length
    if offset != header_offset:
        raise IntegrityError(f"{what}: blobs cover {offset} bytes, header starts at {header_offset}")
    return entries
