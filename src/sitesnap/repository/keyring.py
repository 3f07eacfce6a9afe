"""Keyrings: the master keys of older generations, kept after ``key rotate`` (docs/format/v1.md section 14).

``keyring/<storage id>`` is a kind ``K`` envelope, sealed with the *current*
master key, around JSON::

    {"generation": 2, "older": ["<base64 of a 64-byte master key>", ...], "created": "<iso 8601>"}

``older`` lists the earlier generations, oldest first.  Sealing it with the
current key means that someone holding a leaked older key cannot open it and
learn the new key.  Key slots (``keys/``) keep wrapping the current master
key only.

Which keyring counts: the one that opens with the current key and has the
generation named by ``config``; of several such (a re-encryption that
stopped after writing its own), the one with the fewest older keys, since
within one generation a keyring only ever shrinks.  Every other keyring
object was left by an interrupted rotation or re-encryption: readers ignore
it, ``check`` reports it, ``key rotate`` and ``key reencrypt`` delete it.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sitesnap.errors import IntegrityError, ObjectNotFound
from sitesnap.format.compress import Compressor
from sitesnap.format.crypto import Aead, MasterKey, aead_for, storage_id
from sitesnap.format.envelope import KIND_KEYRING, decode_json, encode_json, open_envelope, seal_envelope
from sitesnap.storage.base import Storage

__all__ = ["KEYRING_PREFIX", "Keyring", "KeyringScan", "keyring_ids", "opens_a_keyring", "scan_keyrings",
           "write_keyring"]

KEYRING_PREFIX = "keyring/"


@dataclass(frozen=True)
class Keyring:
    """One readable keyring; ``older`` is newest first (the order keys are tried in)."""

    id: str
    generation: int
    older: tuple[MasterKey, ...]
    created: str


@dataclass
class KeyringScan:
    """What ``keyring/`` holds, seen with the current master key."""

    chosen: Keyring | None = None
    leftovers: list[str] = field(default_factory=list)
    damaged: list[str] = field(default_factory=list)

    @property
    def older(self) -> tuple[MasterKey, ...]:
        return self.chosen.older if self.chosen is not None else ()


def keyring_ids(storage: Storage) -> list[str]:
    names = (info.name[len(KEYRING_PREFIX):] for info in storage.list(KEYRING_PREFIX))
    return sorted(n for n in names if "/" not in n and ".tmp" not in n)


def write_keyring(
    storage: Storage, current: MasterKey, compressor: Compressor, generation: int, older: Sequence[MasterKey]
) -> str:
    """Write a keyring sealed with ``current`` holding ``older`` (newest first); returns its ID."""
    payload = {
        "generation": generation,
        "older": [base64.b64encode(k.to_bytes()).decode() for k in reversed(older)],
        "created": datetime.now(UTC).isoformat(),
    }
    raw = seal_envelope(aead_for(current.enc_key), compressor, KIND_KEYRING, encode_json(payload))
    keyring_id = storage_id(raw)
    storage.write(KEYRING_PREFIX + keyring_id, raw)
    return keyring_id


def _read(storage: Storage, keyring_id: str, aead: Aead) -> Keyring | None:
    """The keyring if ``aead`` opens it, None if it does not; IntegrityError when damaged."""
    what = f"keyring {keyring_id[:8]}"
    raw = storage.read(KEYRING_PREFIX + keyring_id)
    if storage_id(raw) != keyring_id:
        raise IntegrityError(f"{what} does not match its name (damaged)")
    try:
        plain = open_envelope(aead, raw, KIND_KEYRING, what)
    except IntegrityError:
        return None
    doc = decode_json(plain, what)
    try:
        older = tuple(MasterKey.from_bytes(base64.b64decode(k, validate=True)) for k in reversed(doc["older"]))
        return Keyring(keyring_id, int(doc["generation"]), older, str(doc.get("created", "")))
    except (KeyError, TypeError, ValueError) as exc:
        raise IntegrityError(f"{what} is malformed ({exc})") from None


def scan_keyrings(storage: Storage, current: MasterKey, generation: int) -> KeyringScan:
    """Sort every keyring object into the one in force, leftovers and damaged ones (module docstring)."""
    scan = KeyringScan()
    aead = aead_for(current.enc_key)
    readable: list[Keyring] = []
    for keyring_id in keyring_ids(storage):
        try:
            found = _read(storage, keyring_id, aead)
        except ObjectNotFound:
            continue
        except IntegrityError:
            scan.damaged.append(keyring_id)
            continue
        if found is not None and found.generation == generation:
            readable.append(found)
        else:
            scan.leftovers.append(keyring_id)
    readable.sort(key=lambda k: (len(k.older), k.id))
    if readable:
        scan.chosen = readable[0]
        scan.leftovers.extend(k.id for k in readable[1:])
    scan.leftovers.sort()
    return scan


def opens_a_keyring(storage: Storage, master: MasterKey) -> bool:
    """Whether ``master`` opens any keyring object: a key that does is (or was about to become) current."""
    aead = aead_for(master.enc_key)
    for keyring_id in keyring_ids(storage):
        try:
            if _read(storage, keyring_id, aead) is not None:
                return True
        except (IntegrityError, ObjectNotFound):
            continue
    return False
