"""Pack files: many blobs in one storage object (16-64 MiB), few objects on S3.

Layout::

    blob_0 | blob_1 | ... | blob_n-1 | header envelope | header length (u32 LE)

The header envelope (kind ``P``) holds, per blob, ``type(1) id(32) length(u32)
plain_size(u32)``; offsets follow from the order.  The high bit of ``type``
(``WRITE_ONLY_FLAG``) marks a blob sealed to the repository's public key by a
write-only host; such packs have a version 2 header sealed the same way
(docs/format/v1.md section 13).  The pack's name is the
unkeyed BLAKE3 of the whole file, so the index can be rebuilt from packs
alone (``repair``) and any damage is detectable without the key.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sitesnap.errors import IntegrityError
from sitesnap.format.compress import Compressor
from sitesnap.format.envelope import KIND_PACK_HEADER, open_envelope, seal_envelope, seal_envelope_public

__all__ = [
    "WRITE_ONLY_FLAG",
    "PackBuilder",
    "PackEntry",
    "decode_pack_header",
    "pack_trailer",
    "split_pack_tail",
    "type_byte",
]

WRITE_ONLY_FLAG = 0x80

_ENTRY = struct.Struct("<B32sII")
_TAIL = struct.Struct("<I")


@dataclass(frozen=True)
class PackEntry:
    type: int
    id: bytes
    offset: int
    length: int
    plain_size: int
    write_only: bool = False  # sealed to the public key (type byte has WRITE_ONLY_FLAG)


def type_byte(blob_type: int, write_only: bool) -> int:
    """The stored type byte: the blob type, with the high bit for blobs sealed to the public key."""
    return blob_type | WRITE_ONLY_FLAG if write_only else blob_type


def _split_type(raw_type: int) -> tuple[int, bool]:
    return raw_type & ~WRITE_ONLY_FLAG, bool(raw_type & WRITE_ONLY_FLAG)


class PackBuilder:
    """Accumulates sealed blobs in memory; not thread-safe (the caller holds a lock).

    The pack is built in one ``bytearray`` that :meth:`finish` completes and
    hands over as is: no second copy of the pack is ever made (the storage
    backend writes from the buffer).  A large buffer lives in its own memory
    mapping, so growing it remaps pages instead of copying them, and freeing
    it returns the memory to the system at once.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self.entries: list[PackEntry] = []

    @property
    def size(self) -> int:
        return len(self._buf)

    def __len__(self) -> int:
        return len(self.entries)

    def add(
        self, blob_type: int, blob_id: bytes, sealed: bytes, plain_size: int, *, write_only: bool = False
    ) -> PackEntry:
        entry = PackEntry(blob_type, blob_id, len(self._buf), len(sealed), plain_size, write_only)
        self._buf += sealed
        self.entries.append(entry)
        return entry

    def finish(
        self, aead: AESGCM | None, compressor: Compressor, *, public_key: bytes | None = None
    ) -> bytearray:
        """The complete pack file; with ``public_key``, the header is sealed to it (version 2).

        The builder is empty afterwards; the returned buffer is the caller's.
        """
        raw = self._buf
        raw += pack_trailer(self.entries, aead, compressor, public_key=public_key)
        self._buf = bytearray()
        return raw


def pack_trailer(
    entries: list[PackEntry], aead: AESGCM | None, compressor: Compressor, *, public_key: bytes | None = None
) -> bytes:
    """What follows the blobs of a pack: the sealed header and its length."""
    header = b"".join(_ENTRY.pack(type_byte(e.type, e.write_only), e.id, e.length, e.plain_size) for e in entries)
    if public_key is not None:
        sealed = seal_envelope_public(public_key, compressor, KIND_PACK_HEADER, header)
    elif aead is not None:
        sealed = seal_envelope(aead, compressor, KIND_PACK_HEADER, header)
    else:
        raise ValueError("a pack header needs the master key or the public key")
    return sealed + _TAIL.pack(len(sealed))


def split_pack_tail(tail: bytes, pack_size: int, what: str) -> int:
    """From the last 4 bytes, the header envelope's length (validated)."""
    if len(tail) < _TAIL.size:
        raise IntegrityError(f"{what} is too short to be a pack")
    (length,) = _TAIL.unpack(tail[-_TAIL.size :])
    if length <= 0 or length + _TAIL.size > pack_size:
        raise IntegrityError(f"{what}: header length {length} is impossible")
    return int(length)


def decode_pack_header(
    aead: AESGCM | None,
    sealed_header: bytes,
    header_offset: int,
    what: str,
    *,
    private_key: X25519PrivateKey | None = None,
) -> list[PackEntry]:
    """Entries of a pack from its sealed header; checks they tile the data area exactly.

    ``private_key`` opens version 2 headers (packs written by write-only hosts).
    """
    raw = open_envelope(aead, sealed_header, KIND_PACK_HEADER, f"{what} header", private_key=private_key)
    if len(raw) % _ENTRY.size:
        raise IntegrityError(f"{what}: header has a partial entry")
    entries: list[PackEntry] = []
    offset = 0
    for raw_type, blob_id, length, plain_size in _ENTRY.iter_unpack(raw):
        blob_type, write_only = _split_type(raw_type)
        entries.append(PackEntry(blob_type, blob_id, offset, length, plain_size, write_only))
        offset += length
    if offset != header_offset:
        raise IntegrityError(f"{what}: blobs cover {offset} bytes, header starts at {header_offset}")
    return entries
