"""Key generations without IO of their own: key chains, keyrings, the config format check, re-sealing blobs."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sitesnap.errors import FormatVersionError, IntegrityError
from sitesnap.format.blob import DATA, TREE, decode_blob, encode_blob
from sitesnap.format.compress import Compressor
from sitesnap.format.crypto import AeadChain, MasterKey, older_opened, open_sealed, open_sealed_by, seal, seal_to
from sitesnap.format.envelope import (
    KIND_INDEX,
    KIND_KEYRING,
    KIND_SNAPSHOT,
    open_envelope,
    peek_header,
    seal_envelope,
    seal_envelope_public,
    seal_envelope_shared,
)
from sitesnap.format.pack import PackEntry
from sitesnap.repository.keyring import KEYRING_PREFIX, scan_keyrings, write_keyring
from sitesnap.repository.repository import READABLE_FORMATS, require_format
from sitesnap.repository.reseal import Resealer
from sitesnap.storage.local import LocalStorage

COMP = Compressor(3)


def _generations(count: int) -> list[MasterKey]:
    """``count`` master keys sharing one ID key, newest first, as rotations make them."""
    id_key = os.urandom(32)
    return [MasterKey(os.urandom(32), id_key) for _ in range(count)]


def test_chain_encrypts_with_the_current_key_and_opens_every_generation() -> None:
    new, old, oldest = _generations(3)
    chain = new.with_older([old, oldest]).aead()
    assert isinstance(chain, AeadChain) and chain.generations == 3
    sealed = seal(chain, b"fresh", b"aad")
    assert open_sealed(new.aead(), sealed, b"aad", "x") == b"fresh"  # current key alone opens it
    with pytest.raises(IntegrityError):
        open_sealed(old.aead(), sealed, b"aad", "x")
    for key in (old, oldest, new):
        assert open_sealed(chain, seal(key.aead(), b"msg", b"aad"), b"aad", "x") == b"msg"
    assert older_opened(chain) == 2
    with pytest.raises(IntegrityError):
        open_sealed(chain, seal(MasterKey.generate().aead(), b"msg", b"aad"), b"aad", "x")
    with pytest.raises(InvalidTag):
        chain.decrypt(os.urandom(12), b"x" * 40, b"aad")
    assert older_opened(chain) == 2


def test_without_older_keys_nothing_changes() -> None:
    key = MasterKey.generate()
    assert isinstance(key.aead(), AESGCM) and isinstance(key.index_aead(), AESGCM)
    assert key.current is key and key.with_older([]).older == ()
    assert older_opened(key.aead(), key.private_key) == 0


def test_rotated_key_keeps_the_id_key_and_stores_only_itself() -> None:
    new, old = _generations(2)
    rotated = new.with_older([old])
    assert rotated.to_bytes() == new.to_bytes() and rotated.current.older == ()
    assert rotated.content_id(b"data") == old.content_id(b"data")
    assert rotated.public_key == new.public_key != old.public_key
    assert rotated.index_key == new.index_key


def test_private_key_chain_opens_what_older_public_keys_sealed() -> None:
    new, old = _generations(2)
    rotated = new.with_older([old])
    for key in (old, new):
        sealed = seal_to(key.public_key, b"host data", b"aad")
        assert open_sealed_by(rotated.private_key, sealed, b"aad", "x") == b"host data"
    assert older_opened(rotated.private_key) == 1
    with pytest.raises(IntegrityError):
        open_sealed_by(rotated.private_key, seal_to(MasterKey.generate().public_key, b"x", b"aad"), b"aad", "x")
    with pytest.raises(IntegrityError):
        open_sealed_by(new.private_key, seal_to(old.public_key, b"x", b"aad"), b"aad", "x")


def test_envelopes_of_every_version_open_through_the_chains() -> None:
    new, old = _generations(2)
    rotated = new.with_older([old])
    v1 = seal_envelope(old.aead(), COMP, KIND_SNAPSHOT, b'{"a":1}')
    shared = seal_envelope_shared(old.index_aead(), COMP, KIND_INDEX, b"index")
    public = seal_envelope_public(old.public_key, COMP, KIND_SNAPSHOT, b'{"b":2}')
    assert open_envelope(rotated.aead(), v1, KIND_SNAPSHOT, "s") == b'{"a":1}'
    assert open_envelope(None, shared, KIND_INDEX, "i", index_aead=rotated.index_aead()) == b"index"
    assert open_envelope(None, public, KIND_SNAPSHOT, "s", private_key=rotated.private_key) == b'{"b":2}'
    with pytest.raises(IntegrityError):
        open_envelope(new.aead(), v1, KIND_SNAPSHOT, "s")


def test_a_format_1_reader_refuses_a_rotated_config() -> None:
    assert READABLE_FORMATS == (1, 2)
    require_format(1)
    require_format(2)
    with pytest.raises(FormatVersionError, match="format version 2"):
        require_format(2, readable=(1,))
    with pytest.raises(FormatVersionError, match="format version 3"):
        require_format(3)


def test_keyring_in_force_leftovers_and_damage(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "repo")
    storage.create()
    new, old, oldest = _generations(3)
    full = write_keyring(storage, new, COMP, 2, [old, oldest])
    raw = storage.read(KEYRING_PREFIX + full)
    assert peek_header(raw, "k") == (KIND_KEYRING, 1)
    doc = json.loads(open_envelope(new.aead(), raw, KIND_KEYRING, "k"))
    assert doc["generation"] == 2
    assert [base64.b64decode(k) for k in doc["older"]] == [oldest.to_bytes(), old.to_bytes()]  # oldest first
    with pytest.raises(IntegrityError):
        open_envelope(old.aead(), raw, KIND_KEYRING, "k")  # a leaked old key cannot learn the new one
    uncommitted = write_keyring(storage, MasterKey.generate(), COMP, 3, [new])
    scan = scan_keyrings(storage, new, 2)
    assert scan.chosen is not None and scan.chosen.id == full
    assert [k.to_bytes() for k in scan.older] == [old.to_bytes(), oldest.to_bytes()]  # newest first
    assert scan.leftovers == [uncommitted] and scan.damaged == []
    emptied = write_keyring(storage, new, COMP, 2, [])
    scan = scan_keyrings(storage, new, 2)
    assert scan.chosen is not None and scan.chosen.id == emptied and scan.older == ()
    assert sorted(scan.leftovers) == sorted([full, uncommitted])
    assert scan_keyrings(storage, new, 1).chosen is None  # a keyring of another generation is a leftover
    path = tmp_path / "repo" / "keyring" / emptied
    path.write_bytes(path.read_bytes()[:-1] + bytes([path.read_bytes()[-1] ^ 1]))
    scan = scan_keyrings(storage, new, 2)
    assert scan.damaged == [emptied] and scan.chosen is not None and scan.chosen.id == full


def _entry(blob_type: int, blob_id: bytes, sealed: bytes, size: int, write_only: bool = False) -> PackEntry:
    return PackEntry(blob_type, blob_id, 0, len(sealed), size, write_only)


def test_resealer_rewrites_older_blobs_only_and_verifies() -> None:
    new, old = _generations(2)
    resealer = Resealer(new.with_older([old]))
    data = os.urandom(1000) + b"a" * 5000
    blob_id = new.content_id(data)
    current = encode_blob(new, new.aead(), COMP, DATA, data).sealed
    assert resealer.blob(_entry(DATA, blob_id, current, len(data)), current) is None
    older = encode_blob(old, old.aead(), COMP, TREE, data).sealed
    resealed = resealer.blob(_entry(TREE, blob_id, older, len(data)), older)
    assert resealed is not None and resealed != older
    assert decode_blob(new, new.aead(), TREE, blob_id, resealed, len(data)) == data
    host = encode_blob(None, None, COMP, DATA, data, blob_id, public_key=old.public_key).sealed
    resealed = resealer.blob(_entry(DATA, blob_id, host, len(data), True), host)
    assert resealed is not None and len(resealed) == len(host) - 32  # an ordinary version 1 blob now
    assert decode_blob(new, new.aead(), DATA, blob_id, resealed, len(data)) == data
    host_now = encode_blob(None, None, COMP, DATA, data, blob_id, public_key=new.public_key).sealed
    assert resealer.blob(_entry(DATA, blob_id, host_now, len(data), True), host_now) is None
    damaged = bytearray(older)
    damaged[20] ^= 1
    with pytest.raises(IntegrityError):
        resealer.blob(_entry(TREE, blob_id, bytes(damaged), len(data)), bytes(damaged))
    with pytest.raises(IntegrityError):
        Resealer(new).blob(_entry(TREE, blob_id, older, len(data)), older)


def test_resealer_tells_current_envelopes_from_older_ones() -> None:
    new, old = _generations(2)
    resealer = Resealer(new.with_older([old]))
    assert resealer.has_older and not Resealer(new).has_older
    assert resealer.envelope_is_current(seal_envelope(new.aead(), COMP, KIND_SNAPSHOT, b"{}"), KIND_SNAPSHOT, "s")
    assert not resealer.envelope_is_current(seal_envelope(old.aead(), COMP, KIND_SNAPSHOT, b"{}"), KIND_SNAPSHOT, "s")
    assert resealer.envelope_is_current(seal_envelope_public(new.public_key, COMP, KIND_SNAPSHOT, b"{}"),
                                        KIND_SNAPSHOT, "s")
    assert not resealer.envelope_is_current(seal_envelope_shared(old.index_aead(), COMP, KIND_INDEX, b"i"),
                                            KIND_INDEX, "i")
