"""Keys and authenticated encryption.

- Content IDs: keyed BLAKE3 of the plaintext (``id_key``), so an ID reveals
  nothing about the data without the key.
- Storage IDs: unkeyed BLAKE3 of the stored bytes, so anyone can verify a file
  against its name without the key (``check`` finds any flipped bit).
- Encryption: AES-256-GCM, random 96-bit nonce per message, associated data
  binding the message to its role.
- Key files: the master key wrapped by a key derived from the password with
  Argon2id (default) or scrypt.
- Write-only extension (docs/format/v1.md section 13): from the master key,
  HKDF-SHA256 derives an *index key* (AES-256-GCM for index files and locks
  that a write-only host must read) and an X25519 key pair; a host holding
  only the public key seals data to it (:func:`seal_to`) and cannot open it.
- Key generations (docs/format/v1.md section 14): after ``key rotate`` a
  :class:`MasterKey` also carries the *older* master keys it still reads.
  Nothing in an object says which key sealed it: AES-GCM authentication
  tells.  :class:`AeadChain` and :class:`PrivateKeyChain` stand in for one
  ``AESGCM`` / X25519 private key, always encrypt with the current key and
  open with whichever generation authenticates, so the code that reads
  objects is the same with one key or several.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol, cast

import blake3
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sitesnap.errors import IntegrityError

__all__ = [
    "NONCE_SIZE",
    "PUBLIC_SEAL_OVERHEAD",
    "TAG_SIZE",
    "Aead",
    "AeadChain",
    "MasterKey",
    "PrivateKey",
    "PrivateKeyChain",
    "aead_for",
    "content_id",
    "derive_key",
    "hkdf",
    "older_opened",
    "open_sealed",
    "open_sealed_by",
    "seal",
    "seal_to",
    "storage_hasher",
    "storage_id",
]

NONCE_SIZE = 12
TAG_SIZE = 16
MASTER_KEY_SIZE = 64  # 32 bytes encryption key + 32 bytes ID key
PUBLIC_KEY_SIZE = 32
PUBLIC_SEAL_OVERHEAD = PUBLIC_KEY_SIZE + NONCE_SIZE + TAG_SIZE
INFO_INDEX_KEY = b"sitesnap v1 index key"
INFO_X25519 = b"sitesnap v1 x25519 private key"
INFO_SEAL = b"sitesnap v1 sealed to public key"

# The types the rest of sitesnap names, so that only this package imports the crypto libraries.
Aead = AESGCM
PrivateKey = X25519PrivateKey


def aead_for(key: bytes) -> Aead:
    """AES-256-GCM with one 32-byte key (a key-file wrapping key, an index key, one generation's key)."""
    return AESGCM(key)


def content_id(id_key: bytes, data: bytes | memoryview) -> bytes:
    """Keyed BLAKE3 of plaintext under ``id_key``: a blob's ID, for holders of the ID key alone."""
    return blake3.blake3(data, key=id_key).digest()


class StorageHasher(Protocol):
    """An incremental :func:`storage_id`: feed the stored bytes in pieces, then take the digest."""

    def update(self, data: bytes | memoryview, /) -> object: ...

    def digest(self) -> bytes: ...


def storage_hasher() -> StorageHasher:
    """A fresh unkeyed BLAKE3 hasher, for naming an object too large to hold in memory at once."""
    return cast(StorageHasher, blake3.blake3())


def hkdf(secret: bytes, info: bytes, salt: bytes | None = None) -> bytes:
    """32 bytes of HKDF-SHA256."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(secret)


class AeadChain:
    """AES-256-GCM with the current key and older key generations; duck-types the ``AESGCM`` calls made here.

    ``encrypt`` always uses the current key.  ``decrypt`` tries the key that
    opened the previous message first (runs of objects of one generation cost
    one attempt each), then the others, current first; it raises
    ``InvalidTag`` only when no generation authenticates the message.  A
    failed attempt costs about one decryption of the message.  Thread-safe.
    ``older_opened`` counts messages only an older generation opened.
    """

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise ValueError("a key chain needs at least the current key")
        self._aeads = [AESGCM(k) for k in keys]
        self._last = 0
        self._lock = threading.Lock()
        self.older_opened = 0

    @property
    def generations(self) -> int:
        """How many keys the chain holds (the current one included)."""
        return len(self._aeads)

    def encrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes:
        return self._aeads[0].encrypt(nonce, data, associated_data)

    def decrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes:
        first = self._last
        for index in _attempt_order(first, len(self._aeads)):
            try:
                plaintext = self._aeads[index].decrypt(nonce, data, associated_data)
            except InvalidTag:
                continue
            self._opened(index)
            return plaintext
        raise InvalidTag()

    def _opened(self, index: int) -> None:
        self._last = index
        if index:
            with self._lock:
                self.older_opened += 1


def _attempt_order(first: int, count: int) -> list[int]:
    """``first`` (the key that worked last time), then every other key, current (0) first."""
    return [first, *(i for i in range(count) if i != first)]


class PrivateKeyChain:
    """The X25519 private keys of the current and older generations, for :func:`open_sealed_by`.

    Where the code uses the key itself (``public_key()``, ``exchange()``) it
    acts as the current generation's key; :func:`open_sealed_by` tries every
    generation as :class:`AeadChain` does.  Thread-safe.
    """

    def __init__(self, keys: Sequence[X25519PrivateKey]) -> None:
        if not keys:
            raise ValueError("a key chain needs at least the current key")
        self.keys = list(keys)
        self._last = 0
        self._lock = threading.Lock()
        self.older_opened = 0

    def public_key(self) -> X25519PublicKey:
        return self.keys[0].public_key()

    def exchange(self, peer_public_key: X25519PublicKey) -> bytes:
        return self.keys[0].exchange(peer_public_key)

    def attempt_order(self) -> list[int]:
        return _attempt_order(self._last, len(self.keys))

    def opened(self, index: int) -> None:
        self._last = index
        if index:
            with self._lock:
                self.older_opened += 1


def older_opened(*openers: object) -> int:
    """How many messages older key generations opened through these chains (0 for plain keys)."""
    return sum(int(getattr(o, "older_opened", 0)) for o in openers)


@dataclass(frozen=True)
class MasterKey:
    """The repository's secret: never stored unwrapped.

    ``older`` holds the master keys of earlier generations (newest first)
    that this one still reads after ``key rotate``; they never encrypt
    anything.  ``to_bytes`` and the key slots cover the current key only.
    """

    enc_key: bytes
    id_key: bytes
    older: tuple[MasterKey, ...] = field(default=(), repr=False, compare=False)

    @classmethod
    def generate(cls) -> MasterKey:
        return cls(os.urandom(32), os.urandom(32))

    @classmethod
    def from_bytes(cls, raw: bytes) -> MasterKey:
        if len(raw) != MASTER_KEY_SIZE:
            raise IntegrityError("master key has the wrong length")
        return cls(raw[:32], raw[32:])

    def to_bytes(self) -> bytes:
        return self.enc_key + self.id_key

    @property
    def current(self) -> MasterKey:
        """This generation alone, without the older keys."""
        return MasterKey(self.enc_key, self.id_key) if self.older else self

    def with_older(self, older: Sequence[MasterKey]) -> MasterKey:
        """This key, also reading what ``older`` (newest first) sealed."""
        return MasterKey(self.enc_key, self.id_key, tuple(k.current for k in older))

    def content_id(self, data: bytes | memoryview) -> bytes:
        """Keyed BLAKE3 of plaintext: the ID of a blob."""
        return content_id(self.id_key, data)

    def aead(self) -> AESGCM:
        """AES-256-GCM with ``enc_key``; with older generations, an :class:`AeadChain` standing in for it."""
        if not self.older:
            return AESGCM(self.enc_key)
        return cast(AESGCM, AeadChain([self.enc_key, *(k.enc_key for k in self.older)]))

    def index_aead(self) -> AESGCM:
        """AES-256-GCM with the index key (write-only extension), chained like :meth:`aead`."""
        if not self.older:
            return AESGCM(self.index_key)
        return cast(AESGCM, AeadChain([self.index_key, *(k.index_key for k in self.older)]))

    @cached_property
    def index_key(self) -> bytes:
        """AES-256-GCM key for index files and locks of the write-only extension."""
        return hkdf(self.to_bytes(), INFO_INDEX_KEY)

    @cached_property
    def private_key(self) -> X25519PrivateKey:
        """The X25519 key that opens what write-only hosts sealed; derived, never stored.

        With older generations, a :class:`PrivateKeyChain` that also opens
        what was sealed to their public keys.
        """
        own = X25519PrivateKey.from_private_bytes(hkdf(self.to_bytes(), INFO_X25519))
        if not self.older:
            return own
        return cast(X25519PrivateKey, PrivateKeyChain([own, *(k.private_key for k in self.older)]))

    @cached_property
    def public_key(self) -> bytes:
        """The raw 32-byte X25519 public key given to write-only hosts (the current generation's)."""
        return self.private_key.public_key().public_bytes_raw()

    def __repr__(self) -> str:
        return "MasterKey(<secret>)"


def storage_id(data: bytes | memoryview) -> str:
    """Unkeyed BLAKE3 of stored bytes, hex: the name of packs, indexes, snapshots, keys."""
    return blake3.blake3(data).hexdigest()


def seal(aead: AESGCM, plaintext: bytes | memoryview, aad: bytes) -> bytes:
    """nonce || ciphertext || tag."""
    nonce = os.urandom(NONCE_SIZE)
    return nonce + aead.encrypt(nonce, bytes(plaintext), aad)


def open_sealed(aead: AESGCM, sealed: bytes | memoryview, aad: bytes, what: str) -> bytes:
    """Decrypt and authenticate; IntegrityError names ``what`` on any damage."""
    if len(sealed) < NONCE_SIZE + TAG_SIZE:
        raise IntegrityError(f"{what} is truncated")
    view = memoryview(sealed)
    try:
        return aead.decrypt(bytes(view[:NONCE_SIZE]), bytes(view[NONCE_SIZE:]), aad)
    except InvalidTag:
        raise IntegrityError(f"{what} failed authentication (damaged or tampered)") from None


def _sealing_key(shared: bytes, ephemeral: bytes, recipient: bytes) -> AESGCM:
    return AESGCM(hkdf(shared, INFO_SEAL, salt=ephemeral + recipient))


def seal_to(public_key: bytes, plaintext: bytes | memoryview, aad: bytes) -> bytes:
    """Encrypt for the holder of the X25519 private key: ``ephemeral public(32) || nonce || ciphertext || tag``.

    A fresh ephemeral key per message; AES-256-GCM key = HKDF-SHA256 of the
    X25519 shared secret, salted with both public keys.  The sender cannot
    decrypt what it sealed.
    """
    ephemeral = X25519PrivateKey.generate()
    eph_pub = ephemeral.public_key().public_bytes_raw()
    shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(public_key))
    return eph_pub + seal(_sealing_key(shared, eph_pub, public_key), plaintext, aad)


def open_sealed_by(
    private_key: X25519PrivateKey | PrivateKeyChain, sealed: bytes | memoryview, aad: bytes, what: str
) -> bytes:
    """Open what :func:`seal_to` made; IntegrityError names ``what`` on any damage.

    A :class:`PrivateKeyChain` (possibly passed where an X25519 key is
    expected) tries each generation's key until one authenticates.
    """
    if len(sealed) < PUBLIC_SEAL_OVERHEAD:
        raise IntegrityError(f"{what} is truncated")
    if not isinstance(private_key, PrivateKeyChain):
        return _open_sealed_by_one(private_key, sealed, aad, what)
    for index in private_key.attempt_order():
        try:
            plaintext = _open_sealed_by_one(private_key.keys[index], sealed, aad, what)
        except IntegrityError:
            continue
        private_key.opened(index)
        return plaintext
    raise IntegrityError(f"{what} failed authentication (damaged or tampered)")


def _open_sealed_by_one(private_key: X25519PrivateKey, sealed: bytes | memoryview, aad: bytes, what: str) -> bytes:
    view = memoryview(sealed)
    eph_pub = bytes(view[:PUBLIC_KEY_SIZE])
    try:
        shared = private_key.exchange(X25519PublicKey.from_public_bytes(eph_pub))
    except ValueError:  # an all-zero shared secret: a forged ephemeral key
        raise IntegrityError(f"{what} failed authentication (damaged or tampered)") from None
    recipient = private_key.public_key().public_bytes_raw()
    return open_sealed(_sealing_key(shared, eph_pub, recipient), view[PUBLIC_KEY_SIZE:], aad, what)


# --- password-based key derivation -------------------------------------------------

DEFAULT_KDF: dict[str, Any] = {"name": "argon2id", "time_cost": 3, "memory_cost": 65536, "parallelism": 2}
FAST_TEST_KDF: dict[str, Any] = {"name": "scrypt", "n": 1024, "r": 8, "p": 1}


_MAX_KDF_MEMORY = 4 << 30  # a key file asking for more is damaged or hostile, not a real setting
_MAX_KDF_PASSES = 256


def derive_key(password: str, salt: bytes, params: dict[str, Any]) -> bytes:
    """32-byte key from a password with the named memory-hard KDF.

    Parameters come from a key file, which is unauthenticated: absurd costs
    (that would exhaust memory or run for hours) raise IntegrityError.
    """
    secret = password.encode("utf-8")
    name = params.get("name")
    if name == "argon2id":
        from argon2.exceptions import HashingError
        from argon2.low_level import Type, hash_secret_raw

        time_cost, memory_cost = int(params["time_cost"]), int(params["memory_cost"])
        parallelism = int(params["parallelism"])
        if memory_cost * 1024 > _MAX_KDF_MEMORY or time_cost * parallelism > _MAX_KDF_PASSES:
            raise IntegrityError("key file asks for an impossible argon2id cost")
        try:
            return hash_secret_raw(secret, salt, time_cost=time_cost, memory_cost=memory_cost,
                                   parallelism=parallelism, hash_len=32, type=Type.ID)
        except HashingError as exc:
            raise IntegrityError(f"key file has invalid argon2id parameters ({exc})") from None
    if name == "scrypt":
        from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

        n, r, p = int(params["n"]), int(params["r"]), int(params["p"])
        if 128 * n * r > _MAX_KDF_MEMORY or p * r > _MAX_KDF_PASSES * 8:
            raise IntegrityError("key file asks for an impossible scrypt cost")
        return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(secret)
    raise IntegrityError(f"unknown key derivation function {name!r}")
