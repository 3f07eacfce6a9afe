"""Key files: the master key wrapped by a password, one file per key slot.

``keys/<storage id>`` is plaintext JSON (it must be readable before the
master key is known)::

    {"version": 1, "kdf": {"name": "argon2id", ...}, "salt": b64,
     "data": b64(nonce || AES-GCM(kek, master key) || tag),
     "created": iso, "hostname": "...", "username": "...", "label": "..."}

The wrapping uses associated data ``b"sitesnap key v1"``.  Adding, removing or
changing a password rewrites one key file and never touches the data.

A recovery slot (:func:`add_recovery_key`) is an ordinary slot whose password
is a generated recovery code (``sitesnap.format.recovery``); :func:`unlock`
accepts such a code in any spelling (case, spaces, dashes).

After ``key rotate`` (docs/format/v1.md section 14) a slot may still exist
that wraps a retired master key (left by an interrupted rotation, or an old
password imported back): :func:`open_slots` yields every key the password
opens, so the caller can pick the one that opens ``config``.
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import json
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sitesnap.errors import IntegrityError, RepositoryNotFound, UsageError, WrongPassword
from sitesnap.format.crypto import DEFAULT_KDF, MasterKey, aead_for, derive_key, open_sealed, seal, storage_id
from sitesnap.format.recovery import canonical_code, new_recovery_code
from sitesnap.storage.base import Storage

__all__ = [
    "KeyInfo",
    "add_key",
    "add_recovery_key",
    "export_key",
    "list_keys",
    "open_slots",
    "read_key_file",
    "remove_key",
    "slot_kdf",
    "store_key_file",
    "unlock",
]

KEY_AAD = b"sitesnap key v1"
KEYS_PREFIX = "keys/"


@dataclass(frozen=True)
class KeyInfo:
    id: str
    created: str
    hostname: str
    username: str
    label: str
    kdf: str


def _info(key_id: str, doc: dict[str, Any]) -> KeyInfo:
    return KeyInfo(
        key_id,
        str(doc.get("created", "")),
        str(doc.get("hostname", "")),
        str(doc.get("username", "")),
        str(doc.get("label", "")),
        str(doc.get("kdf", {}).get("name", "")),
    )


def add_key(
    storage: Storage, master: MasterKey, password: str, *, kdf: dict[str, Any] | None = None, label: str = ""
) -> str:
    """Write a new key slot for ``password``; returns its ID."""
    if not password:
        raise UsageError("an empty password is not allowed")
    params = dict(kdf or DEFAULT_KDF)
    salt = os.urandom(32)
    kek = derive_key(password, salt, params)
    doc = {
        "version": 1,
        "kdf": params,
        "salt": base64.b64encode(salt).decode(),
        "data": base64.b64encode(seal(aead_for(kek), master.to_bytes(), KEY_AAD)).decode(),
        "created": datetime.now(UTC).isoformat(),
        "hostname": socket.gethostname(),
        "username": getpass.getuser(),
        "label": label,
    }
    raw = json.dumps(doc, indent=1).encode()
    key_id = storage_id(raw)
    storage.write(KEYS_PREFIX + key_id, raw, exclusive=True)
    return key_id


RECOVERY_LABEL = "recovery code"


def add_recovery_key(storage: Storage, master: MasterKey, *, kdf: dict[str, Any] | None = None) -> tuple[str, str]:
    """Write a key slot for a freshly generated recovery code; returns (key id, code).

    The code is returned once and stored nowhere else: the caller must show it.
    """
    code = new_recovery_code()
    return add_key(storage, master, code, kdf=kdf, label=RECOVERY_LABEL), code


def _load_doc(storage: Storage, key_id: str) -> dict[str, Any]:
    raw = storage.read(KEYS_PREFIX + key_id)
    if storage_id(raw) != key_id:
        raise IntegrityError(f"key file {key_id[:8]} does not match its name (damaged)")
    try:
        doc = json.loads(raw)
        if not isinstance(doc, dict):
            raise ValueError("not an object")
    except ValueError as exc:
        raise IntegrityError(f"key file {key_id[:8]} is malformed ({exc})") from None
    return doc


def key_ids(storage: Storage) -> list[str]:
    return sorted(info.name[len(KEYS_PREFIX) :] for info in storage.list(KEYS_PREFIX) if "/" not in info.name[5:])


def list_keys(storage: Storage, *, skip_damaged: bool = False) -> list[KeyInfo]:
    """Every slot; a damaged key file raises IntegrityError, or with ``skip_damaged`` is shown as ``(damaged)``."""
    out: list[KeyInfo] = []
    for key_id in key_ids(storage):
        try:
            out.append(_info(key_id, _load_doc(storage, key_id)))
        except IntegrityError:
            if not skip_damaged:
                raise
            out.append(KeyInfo(key_id, "", "", "", "(damaged)", ""))
    return out


def unlock(storage: Storage, password: str, location: str) -> tuple[MasterKey, str]:
    """The first key slot ``password`` opens: (master key, key id); see :func:`open_slots` for errors."""
    for found in open_slots(storage, password, location):
        return found
    raise WrongPassword()  # pragma: no cover - open_slots raises before yielding nothing


def open_slots(storage: Storage, password: str, location: str) -> Iterator[tuple[MasterKey, str]]:
    """Every (master key, key id) that ``password`` opens, in slot order, one key derivation at a time.

    Lazy, so a caller that stops at the first usable key pays for no other
    slot.  When no slot opens at all it raises WrongPassword; or, if some
    were damaged and none opened, the IntegrityError instead, so the user
    is not sent hunting for a password that was right.  A damaged key file
    is skipped as long as another slot opens.
    """
    ids = key_ids(storage)
    if not ids:
        raise RepositoryNotFound(location=location, detail="no key files")
    damaged: list[str] = []
    opened = 0
    candidates = _password_spellings(password)
    for key_id in ids:
        try:
            doc = _load_doc(storage, key_id)
        except IntegrityError:
            damaged.append(key_id)
            continue
        for candidate in candidates:
            try:
                master = _unwrap(doc, candidate, key_id)
            except (IntegrityError, KeyError, TypeError, ValueError, OverflowError):
                damaged.append(key_id)
                break
            if master is not None:
                opened += 1
                yield master, key_id
                break
    if opened:
        return
    if damaged and len(damaged) == len(ids):
        raise IntegrityError(f"every key file is damaged: {', '.join(d[:8] for d in damaged)}")
    raise WrongPassword()


def slot_kdf(storage: Storage, key_id: str) -> dict[str, Any]:
    """The key derivation settings of one slot (to give its replacement the same cost)."""
    try:
        return dict(_load_doc(storage, key_id)["kdf"])
    except (KeyError, TypeError, ValueError):
        raise IntegrityError(f"key file {key_id[:8]} is malformed (no kdf)") from None


def _password_spellings(password: str) -> list[str]:
    """The password as typed, or a recovery code's canonical spelling first.

    A recovery code typed in another spelling (lower case, spaces) is tried
    in the canonical form its slot was made with; the text as typed is tried
    too, in case it is an ordinary password that only looks like a code.
    """
    code = canonical_code(password)
    if code is None or code == password:
        return [password]
    return [code, password]


def _unwrap(doc: dict[str, Any], password: str, key_id: str) -> MasterKey | None:
    """The master key if ``password`` opens this key file, None if it does not.

    Malformed fields raise (KeyError, ValueError, IntegrityError...): the
    caller counts the file as damaged.
    """
    memo = _memo_key(doc, password)
    with _UNWRAPPED_LOCK:
        if memo in _UNWRAPPED:
            return _UNWRAPPED[memo]
        slot_lock = _DERIVING.setdefault(memo, threading.Lock())
    # One derivation per (slot, password) at a time: a caller arriving while a
    # warm-up thread (see warm_up) derives the same key waits for its result
    # instead of paying the deliberately slow KDF a second time.
    with slot_lock:
        try:
            with _UNWRAPPED_LOCK:
                if memo in _UNWRAPPED:
                    return _UNWRAPPED[memo]
            kek = derive_key(password, base64.b64decode(doc["salt"]), dict(doc["kdf"]))
            sealed = base64.b64decode(doc["data"])
            try:
                raw = open_sealed(aead_for(kek), sealed, KEY_AAD, f"key {key_id[:8]}")
            except IntegrityError:
                return None  # a refused password is never remembered
            master = MasterKey.from_bytes(raw)
            with _UNWRAPPED_LOCK:
                _UNWRAPPED[memo] = master
            return master
        finally:
            with _UNWRAPPED_LOCK:
                _DERIVING.pop(memo, None)


def warm_up(storage: Storage, password: str) -> None:
    """Unwrap the first key slot ``password`` opens into the memo, reporting nothing.

    For a background thread (``engine.opening.warm_up_key``): the key
    derivation runs in C without the GIL, so a command that will open the
    repository soon gets the slow part done on the other core meanwhile; the
    later :func:`open_slots` finds the result in the memo.  Every error is
    left to that later call, which reports it properly.
    """
    try:
        for _ in open_slots(storage, password, storage.properties.url):
            break
    except Exception:  # the real open raises it again, with its context
        pass


# Master keys this process has already unwrapped, by key slot content and password.  The
# key derivation is deliberately slow (0.1-0.3 s, 64 MiB with Argon2id); a scheduler, web
# server or Celery worker opens the same repository for every job with the same password,
# which it holds in memory anyway.  The slot's salt and wrapped key fully determine the
# result, so an entry can never be stale; a removed slot is simply no longer tried.  The
# password is kept only as a keyed hash under a random per-process key.
_UNWRAPPED: dict[tuple[str, str, str, bytes], MasterKey] = {}
_DERIVING: dict[tuple[str, str, str, bytes], threading.Lock] = {}
_UNWRAPPED_LOCK = threading.Lock()
_MEMO_SECRET = os.urandom(32)


def _memo_key(doc: dict[str, Any], password: str) -> tuple[str, str, str, bytes]:
    digest = hashlib.blake2b(password.encode("utf-8", "surrogatepass"), key=_MEMO_SECRET).digest()
    return str(doc["salt"]), str(doc["data"]), json.dumps(doc["kdf"], sort_keys=True), digest


def export_key(storage: Storage, key_id: str) -> tuple[str, bytes]:
    """(full id, bytes) of the key file whose ID starts with ``key_id``, verified against its name."""
    matches = [k for k in key_ids(storage) if k.startswith(key_id)]
    if len(matches) != 1:
        raise UsageError(f"no single key matches {key_id!r}")
    raw = bytes(storage.read(KEYS_PREFIX + matches[0]))
    if storage_id(raw) != matches[0]:
        raise IntegrityError(f"key file {matches[0][:8]} does not match its name (damaged)")
    return matches[0], raw


def read_key_file(raw: bytes, password: str) -> MasterKey:
    """The master key inside an exported key file, opened with ``password`` (any recovery-code spelling).

    Raises UsageError for something that is not a key file, WrongPassword when
    the password does not open it.
    """
    try:
        doc = json.loads(raw)
        if not isinstance(doc, dict):
            raise ValueError("not an object")
    except ValueError as exc:
        raise UsageError(f"not a sitesnap key file ({exc})") from None
    for candidate in _password_spellings(password):
        try:
            master = _unwrap(doc, candidate, storage_id(raw))
        except (IntegrityError, KeyError, TypeError, ValueError, OverflowError):
            raise UsageError("not a sitesnap key file (fields missing or malformed)") from None
        if master is not None:
            return master
    raise WrongPassword(hint="A key file opens only with the password or recovery code it was made with.")


def store_key_file(storage: Storage, raw: bytes) -> str:
    """Write ``raw`` as ``keys/<its id>`` unless it is already there (idempotent); returns the id."""
    key_id = storage_id(raw)
    if key_id not in key_ids(storage):
        storage.write(KEYS_PREFIX + key_id, raw, exclusive=True)
    return key_id


def remove_key(storage: Storage, key_id: str, current_key_id: str) -> None:
    ids = key_ids(storage)
    matches = [k for k in ids if k.startswith(key_id)]
    if len(matches) != 1:
        raise UsageError(f"no single key matches {key_id!r}")
    if matches[0] == current_key_id:
        raise UsageError("refusing to remove the key in use; open the repository with another key first")
    storage.delete(KEYS_PREFIX + matches[0])
