"""Write-only extension codecs: public-key sealing, version 2 envelopes, flagged pack and index entries."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sitesnap.errors import FormatVersionError, IntegrityError, UsageError, WriteOnlyError
from sitesnap.format.blob import DATA, TREE, decode_blob, encode_blob
from sitesnap.format.chunker import ChunkerParams
from sitesnap.format.compress import Compressor
from sitesnap.format.crypto import MasterKey, open_sealed_by, seal_to
from sitesnap.format.envelope import (
    KIND_INDEX,
    KIND_LOCK,
    KIND_PACK_HEADER,
    KIND_SNAPSHOT,
    WRITE_ONLY_VERSION,
    open_envelope,
    peek_header,
    seal_envelope,
    seal_envelope_public,
    seal_envelope_shared,
)
from sitesnap.format.index import IndexFile, decode_index, encode_index
from sitesnap.format.pack import PackBuilder, decode_pack_header, split_pack_tail
from sitesnap.repository.writeonly import WriteOnlyKey

COMP = Compressor(3)


def test_derived_keys_are_stable_and_distinct() -> None:
    master = MasterKey.generate()
    again = MasterKey.from_bytes(master.to_bytes())
    assert again.public_key == master.public_key and again.index_key == master.index_key
    assert len({master.index_key, master.enc_key, master.id_key, master.public_key}) == 4
    assert MasterKey.generate().public_key != master.public_key


def test_sealed_to_public_key_opens_only_with_the_private_key() -> None:
    owner, stranger = MasterKey.generate(), MasterKey.generate()
    sealed = seal_to(owner.public_key, b"secret data", b"aad")
    assert open_sealed_by(owner.private_key, sealed, b"aad", "x") == b"secret data"
    assert seal_to(owner.public_key, b"secret data", b"aad") != sealed  # fresh ephemeral key each time
    with pytest.raises(IntegrityError):
        open_sealed_by(stranger.private_key, sealed, b"aad", "x")
    with pytest.raises(IntegrityError):
        open_sealed_by(owner.private_key, sealed, b"other aad", "x")
    for pos in (0, 40, len(sealed) - 1):
        flipped = bytearray(sealed)
        flipped[pos] ^= 1
        with pytest.raises(IntegrityError):
            open_sealed_by(owner.private_key, bytes(flipped), b"aad", "x")
    with pytest.raises(IntegrityError):
        open_sealed_by(owner.private_key, sealed[:50], b"aad", "x")


def test_version_2_envelopes_and_what_each_key_can_open() -> None:
    master = MasterKey.generate()
    index_aead = AESGCM(master.index_key)
    shared = seal_envelope_shared(index_aead, COMP, KIND_INDEX, b"index payload")
    public = seal_envelope_public(master.public_key, COMP, KIND_SNAPSHOT, b'{"snapshot": 1}')
    assert peek_header(shared, "i") == (KIND_INDEX, WRITE_ONLY_VERSION)
    assert peek_header(public, "s") == (KIND_SNAPSHOT, WRITE_ONLY_VERSION)
    # The password holder opens both.
    assert open_envelope(master.aead(), shared, KIND_INDEX, "i", index_aead=index_aead) == b"index payload"
    opened = open_envelope(master.aead(), public, KIND_SNAPSHOT, "s", private_key=master.private_key)
    assert opened == b'{"snapshot": 1}'
    # A write-only host (index key, no private key) opens the index but not the snapshot.
    assert open_envelope(None, shared, KIND_INDEX, "i", index_aead=index_aead) == b"index payload"
    with pytest.raises(FormatVersionError):
        open_envelope(None, public, KIND_SNAPSHOT, "s", index_aead=index_aead)
    with pytest.raises(WriteOnlyError):
        open_envelope(None, seal_envelope(master.aead(), COMP, KIND_LOCK, b"{}"), KIND_LOCK, "l",
                      index_aead=index_aead)
    # A reader without the extension stops at the version byte instead of misreading.
    for raw, kind in ((shared, KIND_INDEX), (public, KIND_SNAPSHOT)):
        with pytest.raises(FormatVersionError, match="format version 2"):
            open_envelope(master.aead(), raw, kind, "old reader")
    with pytest.raises(ValueError):
        seal_envelope_shared(index_aead, COMP, KIND_SNAPSHOT, b"")
    with pytest.raises(ValueError):
        seal_envelope_public(master.public_key, COMP, KIND_INDEX, b"")


def test_write_only_blobs_and_packs_round_trip_for_the_owner_only() -> None:
    master = MasterKey.generate()
    builder = PackBuilder()
    blobs = {}
    for blob_type, data in ((DATA, b"file content " * 500), (TREE, b'{"nodes":[]}')):
        blob_id = master.content_id(data)
        enc = encode_blob(None, None, COMP, blob_type, data, blob_id, public_key=master.public_key)
        builder.add(blob_type, blob_id, enc.sealed, enc.plain_size, write_only=True)
        blobs[blob_type] = (blob_id, data, enc)
    raw = builder.finish(None, COMP, public_key=master.public_key)
    header_len = split_pack_tail(raw[-4:], len(raw), "pack")
    off = len(raw) - 4 - header_len
    assert peek_header(raw[off:-4], "h") == (KIND_PACK_HEADER, WRITE_ONLY_VERSION)
    entries = decode_pack_header(master.aead(), raw[off:-4], off, "pack", private_key=master.private_key)
    assert [(e.type, e.write_only) for e in entries] == [(DATA, True), (TREE, True)]
    with pytest.raises(FormatVersionError):
        decode_pack_header(master.aead(), raw[off:-4], off, "pack")
    for e in entries:
        blob_id, data, enc = blobs[e.type]
        sealed = raw[e.offset : e.offset + e.length]
        assert decode_blob(master, master.aead(), e.type, blob_id, sealed, e.plain_size, write_only=True) == data
        with pytest.raises(IntegrityError):  # the flag is bound: read as a master-key blob it fails
            decode_blob(master, master.aead(), e.type, blob_id, sealed, e.plain_size)
        with pytest.raises(IntegrityError):  # and the other repository's private key cannot open it
            decode_blob(MasterKey.generate(), master.aead(), e.type, blob_id, sealed, e.plain_size, write_only=True)


def test_index_keeps_the_write_only_flag() -> None:
    builder = PackBuilder()
    builder.add(DATA, b"\x01" * 32, b"x" * 40, 10, write_only=True)
    builder.add(DATA, b"\x02" * 32, b"y" * 40, 10)
    index = IndexFile({b"\x09" * 32: builder.entries})
    assert index.has_write_only()
    back = decode_index(encode_index(index), "i")
    assert [e.write_only for e in back.packs[b"\x09" * 32]] == [True, False]
    assert [e.type for e in back.packs[b"\x09" * 32]] == [DATA, DATA]
    assert not IndexFile({b"\x09" * 32: builder.entries[1:]}).has_write_only()


def test_write_only_key_file_round_trip_and_garbage() -> None:
    master = MasterKey.generate()
    key = WriteOnlyKey.from_master(master, "ab" * 32, ChunkerParams(seed=5), None, 3)
    back = WriteOnlyKey.from_bytes(key.to_bytes(), "k")
    assert back == key
    assert back.content_id(b"x") == master.content_id(b"x")
    assert "secret" in repr(key) and master.index_key.hex() not in repr(key)
    for garbage in (b"", b"[]", b'{"type": "sitesnap write-only key", "version": 1}', b"\xff\xfe",
                    key.to_bytes().replace(b'"version": 1', b'"version": 9')):
        with pytest.raises(UsageError):
            WriteOnlyKey.from_bytes(garbage, "k")
