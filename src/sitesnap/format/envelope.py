"""The envelope of every whole-file object (config, index, snapshot, lock, pack header).

Layout::

    magic "SSNP" (4) | kind (1) | format version (1) | nonce (12) | ciphertext | tag (16)

The 6-byte header is the AES-GCM associated data, so the kind and version are
readable without the key (to pick a migration) yet cannot be altered.  The
plaintext is ``mode(1) || payload`` as for blobs (usually zstd-compressed JSON).
"""

from __future__ import annotations

import json
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sitesnap.errors import FormatVersionError, IntegrityError
from sitesnap.format.compress import Compressor, decompress
from sitesnap.format.crypto import open_sealed, seal

__all__ = [
    "FORMAT_VERSION",
    "KIND_CONFIG",
    "KIND_INDEX",
    "KIND_LOCK",
    "KIND_PACK_HEADER",
    "KIND_SNAPSHOT",
    "decode_json",
    "encode_json",
    "open_envelope",
    "peek_header",
    "seal_envelope",
]

MAGIC = b"SSNP"
FORMAT_VERSION = 1
KIND_CONFIG = ord("C")
KIND_INDEX = ord("I")
KIND_SNAPSHOT = ord("S")
KIND_LOCK = ord("L")
KIND_PACK_HEADER = ord("P")
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


def open_envelope(aead: AESGCM, data: bytes | memoryview, kind: int, what: str) -> bytes:
    got_kind, version = peek_header(data, what)
    if got_kind != kind:
        raise IntegrityError(f"{what}: expected object kind {chr(kind)!r}, found {chr(got_kind)!r}")
    if version != FORMAT_VERSION:
        raise FormatVersionError(f"{what} has format version {version}, this sitesnap reads {FORMAT_VERSION}")
    plaintext = open_sealed(aead, memoryview(data)[HEADER_SIZE:], bytes(data[:HEADER_SIZE]), what)
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
