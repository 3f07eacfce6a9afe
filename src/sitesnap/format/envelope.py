"""The envelope of every whole-file object (config, index, snapshot, lock, pack header, keyring).

Layout::

    magic "SSNP" (4) | kind (1) | format version (1) | nonce (12) | ciphertext | tag (16)

The 6-byte header is the AES-GCM associated data, so the kind and version are
readable without the key (to pick a migration) yet cannot be altered.  The
plaintext is ``mode(1) || payload`` as for blobs (usually zstd-compressed JSON).

Version 2 is the write-only extension (docs/format/v1.md section 13): index
files and locks encrypted with the *index key*, and snapshots and pack
headers sealed to the repository's X25519 public key
(``magic | kind | 2 | ephemeral public key (32) | nonce | ciphertext | tag``).
A reader without the extension stops at the version byte with
FormatVersionError instead of misreading.

Kind ``K`` (a *keyring*, docs/format/v1.md section 14) holds the master keys
of older generations after ``key rotate``; it is a version 1 envelope sealed
with the current master key.
"""

from __future__ import annotations

import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sitesnap.errors import FormatVersionError, IntegrityError, WriteOnlyError
from sitesnap.format.compress import Compressor, decompress
from sitesnap.format.crypto import open_sealed, open_sealed_by, seal, seal_to

__all__ = [
    "FORMAT_VERSION",
    "KIND_CONFIG",
    "KIND_INDEX",
    "KIND_KEYRING",
    "KIND_LOCK",
    "KIND_PACK_HEADER",
    "KIND_SNAPSHOT",
    "SHARED_KINDS",
    "WRITE_ONLY_VERSION",
    "decode_json",
    "encode_json",
    "open_envelope",
    "peek_header",
    "seal_envelope",
    "seal_envelope_public",
    "seal_envelope_shared",
]

MAGIC = b"SSNP"
FORMAT_VERSION = 1
KIND_CONFIG = ord("C")
KIND_INDEX = ord("I")
KIND_SNAPSHOT = ord("S")
KIND_LOCK = ord("L")
KIND_PACK_HEADER = ord("P")
KIND_KEYRING = ord("K")
WRITE_ONLY_VERSION = 2
SHARED_KINDS = frozenset({KIND_INDEX, KIND_LOCK})  # version 2: AES-GCM with the index key
PUBLIC_KINDS = frozenset({KIND_SNAPSHOT, KIND_PACK_HEADER})  # version 2: sealed to the public key
HEADER_SIZE = 6
_MAX_PLAIN = 1 << 31


def _header(kind: int, version: int = FORMAT_VERSION) -> bytes:
    return MAGIC + bytes([kind, version])


def peek_header(data: bytes | memoryview, what: str) -> tuple[int, int]:
    """(kind, version) of an envelope, without the key."""
    if len(data) < HEADER_SIZE or bytes(data[:4]) != MAGIC:
        raise IntegrityError(f"{what}: not a sitesnap object (bad magic)")
    return data[4], data[5]


def seal_envelope(aead: AESGCM, compressor: Compressor, kind: int, payload: bytes) -> bytes:
    mode, body = compressor.compress(payload)
    header = _header(kind)
    return header + seal(aead, bytes([mode]) + bytes(body), header)


def seal_envelope_shared(index_aead: AESGCM, compressor: Compressor, kind: int, payload: bytes) -> bytes:
    """A version 2 index file or lock, encrypted with the index key (readable by write-only hosts)."""
    if kind not in SHARED_KINDS:
        raise ValueError(f"kind {chr(kind)!r} is not sealed with the index key")
    mode, body = compressor.compress(payload)
    header = _header(kind, WRITE_ONLY_VERSION)
    return header + seal(index_aead, bytes([mode]) + bytes(body), header)


def seal_envelope_public(public_key: bytes, compressor: Compressor, kind: int, payload: bytes) -> bytes:
    """A version 2 snapshot or pack header, sealed to the repository's public key (the writer cannot open it)."""
    if kind not in PUBLIC_KINDS:
        raise ValueError(f"kind {chr(kind)!r} is not sealed to the public key")
    mode, body = compressor.compress(payload)
    header = _header(kind, WRITE_ONLY_VERSION)
    return header + seal_to(public_key, bytes([mode]) + bytes(body), header)


def open_envelope(
    aead: AESGCM | None,
    data: bytes | memoryview,
    kind: int,
    what: str,
    *,
    index_aead: AESGCM | None = None,
    private_key: X25519PrivateKey | None = None,
) -> bytes:
    """The payload of an envelope of ``kind``, authenticated and decompressed.

    Version 1 needs ``aead`` (the master encryption key); version 2 needs
    ``index_aead`` for index files and locks and ``private_key`` for
    snapshots and pack headers.  Without ``aead`` a version 1 envelope raises
    WriteOnlyError (a write-only host has no master key); any other version,
    or a version 2 envelope without its key, raises FormatVersionError.
    """
    got_kind, version = peek_header(data, what)
    if got_kind != kind:
        raise IntegrityError(f"{what}: expected object kind {chr(kind)!r}, found {chr(got_kind)!r}")
    body, header = memoryview(data)[HEADER_SIZE:], bytes(data[:HEADER_SIZE])
    if version == FORMAT_VERSION:
        if aead is None:
            raise WriteOnlyError(f"cannot read {what}")
        plaintext = open_sealed(aead, body, header, what)
    elif version == WRITE_ONLY_VERSION and kind in SHARED_KINDS and index_aead is not None:
        plaintext = open_sealed(index_aead, body, header, what)
    elif version == WRITE_ONLY_VERSION and kind in PUBLIC_KINDS and private_key is not None:
        plaintext = open_sealed_by(private_key, body, header, what)
    else:
        raise FormatVersionError(f"{what} has format version {version}, this sitesnap reads {FORMAT_VERSION}")
    if not plaintext:
        raise IntegrityError(f"{what} is empty")
    return decompress(plaintext[0], memoryview(plaintext)[1:], _MAX_PLAIN, what)


def encode_json(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode("utf-8")


def decode_json(raw: bytes, what: str) -> Any:
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise IntegrityError(f"{what}: invalid JSON ({exc})") from None
