"""Blobs: the unit of deduplication.

A blob is stored as ``nonce(12) || AES-GCM(mode(1) || payload) || tag(16)``
with associated data ``type(1) || id(32)``, where ``id`` is the keyed BLAKE3 of
the uncompressed plaintext.  Decoding authenticates, decompresses and checks
the ID again, so a blob can be neither altered nor swapped for another.

Write-only extension: a blob written by a write-only host is
``ephemeral public key(32) || nonce(12) || AES-GCM(...) || tag(16)``, sealed
to the repository's X25519 public key (``crypto.seal_to``) with associated
data ``(type | 0x80) || id``; the entry that locates it says so
(``PackEntry.write_only``).
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sitesnap.errors import IntegrityError
from sitesnap.format.compress import Compressor, decompress
from sitesnap.format.crypto import NONCE_SIZE, TAG_SIZE, MasterKey, open_sealed, open_sealed_by, seal, seal_to
from sitesnap.format.pack import type_byte

__all__ = ["BLOB_OVERHEAD", "DATA", "TREE", "BlobType", "EncodedBlob", "decode_blob", "encode_blob"]

DATA = 0
TREE = 1
BlobType = int
BLOB_OVERHEAD = NONCE_SIZE + 1 + TAG_SIZE
_TYPE_NAMES = {DATA: "data", TREE: "tree"}


@dataclass(frozen=True)
class EncodedBlob:
    id: bytes
    type: BlobType
    sealed: bytes
    plain_size: int


def type_name(blob_type: BlobType) -> str:
    return _TYPE_NAMES.get(blob_type, f"type-{blob_type}")


def encode_blob(
    key: MasterKey | None,
    aead: AESGCM | None,
    compressor: Compressor,
    blob_type: BlobType,
    data: bytes | memoryview,
    blob_id: bytes | None = None,
    *,
    public_key: bytes | None = None,
) -> EncodedBlob:
    """Compress and encrypt ``data``.  Pass ``blob_id`` if already computed.

    With ``public_key`` the blob is sealed to it (write-only extension) and
    ``aead`` is not used; ``key`` may be None when ``blob_id`` is given.
    """
    if blob_id is None:
        if key is None:
            raise ValueError("encode_blob needs the blob ID or the key to compute it")
        blob_id = key.content_id(data)
    mode, payload = compressor.compress(data)
    plaintext = bytes([mode]) + bytes(payload)
    if public_key is not None:
        sealed = seal_to(public_key, plaintext, bytes([type_byte(blob_type, True)]) + blob_id)
    elif aead is not None:
        sealed = seal(aead, plaintext, bytes([blob_type]) + blob_id)
    else:
        raise ValueError("encode_blob needs the master key or the public key")
    return EncodedBlob(blob_id, blob_type, sealed, len(data))


def decode_blob(
    key: MasterKey,
    aead: AESGCM,
    blob_type: BlobType,
    blob_id: bytes,
    sealed: bytes | memoryview,
    plain_size: int,
    *,
    write_only: bool = False,
) -> bytes:
    """Decrypt, decompress and verify; IntegrityError names the blob on any damage.

    ``write_only`` blobs (sealed to the public key) are opened with the
    private key derived from ``key``.
    """
    what = f"{type_name(blob_type)} blob {blob_id.hex()[:16]}"
    if write_only:
        plaintext = open_sealed_by(key.private_key, sealed, bytes([type_byte(blob_type, True)]) + blob_id, what)
    else:
        plaintext = open_sealed(aead, sealed, bytes([blob_type]) + blob_id, what)
    if not plaintext:
        raise IntegrityError(f"{what} is empty")
    data = decompress(plaintext[0], memoryview(plaintext)[1:], plain_size, what)
    if len(data) != plain_size:
        raise IntegrityError(f"{what} has {len(data)} bytes, index says {plain_size}")
    if key.content_id(data) != blob_id:
        raise IntegrityError(f"{what} does not match its ID")
    return data
