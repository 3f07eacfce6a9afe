"""The two sealers: what a password holder and a write-only host can seal and open, with no flag asked."""

from __future__ import annotations

import pytest

from sitesnap.errors import WriteOnlyError
from sitesnap.format.blob import DATA, TREE
from sitesnap.format.chunker import ChunkerParams
from sitesnap.format.compress import Compressor
from sitesnap.format.crypto import MasterKey
from sitesnap.format.envelope import FORMAT_VERSION, KIND_INDEX, KIND_LOCK, WRITE_ONLY_VERSION, peek_header
from sitesnap.format.pack import PackBuilder, split_pack_tail
from sitesnap.repository.sealer import PasswordSealer, Sealer, WriteOnlySealer
from sitesnap.repository.writeonly import WriteOnlyKey

COMP = Compressor(3)


def _pair() -> tuple[PasswordSealer, WriteOnlySealer]:
    master = MasterKey.generate()
    key = WriteOnlyKey.from_master(master, "r" * 64, ChunkerParams(seed=1), None, 3)
    return PasswordSealer(master), WriteOnlySealer(key)


def test_both_sealers_give_equal_data_equal_ids() -> None:
    owner, host = _pair()
    sealers: list[Sealer] = [owner, host]
    ids = {s.content_id(b"same bytes") for s in sealers}
    assert len(ids) == 1 and ids != {owner.content_id(b"other bytes")}


@pytest.mark.parametrize("blob_type", [DATA, TREE])
def test_password_blobs_round_trip_and_host_blobs_open_only_with_the_password(blob_type: int) -> None:
    owner, host = _pair()
    data = b"payload " * 100
    blob_id = owner.content_id(data)
    mine = owner.seal_blob(COMP, blob_type, data, blob_id)
    assert owner.open_blob(blob_type, blob_id, mine.sealed, len(data), write_only=False) == data
    theirs = host.seal_blob(COMP, blob_type, data, blob_id)
    assert owner.open_blob(blob_type, blob_id, theirs.sealed, len(data), write_only=True) == data
    with pytest.raises(WriteOnlyError):
        host.open_blob(blob_type, blob_id, theirs.sealed, len(data), write_only=True)


def test_host_pack_headers_are_sealed_to_the_public_key() -> None:
    owner, host = _pair()
    assert owner.pack_public_key is None and host.pack_public_key == owner.public_key
    blob_id = host.content_id(b"x")
    builder = PackBuilder()
    builder.add(DATA, blob_id, host.seal_blob(COMP, DATA, b"x", blob_id).sealed, 1, write_only=True)
    raw = builder.finish(host.aead, COMP, public_key=host.pack_public_key)
    offset = len(raw) - 4 - split_pack_tail(raw[-4:], len(raw), "pack")
    entries = owner.open_pack_header(raw[offset:-4], offset, "pack")
    assert [(e.id, e.write_only) for e in entries] == [(blob_id, True)]
    with pytest.raises(WriteOnlyError):
        host.open_pack_header(raw[offset:-4], offset, "pack")


def test_snapshots_from_a_host_open_only_with_the_password() -> None:
    owner, host = _pair()
    raw = host.seal_snapshot(COMP, b'{"snapshot": 1}')
    assert owner.open_snapshot(raw, "s") == b'{"snapshot": 1}'
    with pytest.raises(WriteOnlyError):
        host.open_snapshot(raw, "s")
    assert owner.open_snapshot(owner.seal_snapshot(COMP, b"{}"), "s") == b"{}"


@pytest.mark.parametrize("kind", [KIND_INDEX, KIND_LOCK])
def test_index_files_and_locks_follow_shared_index(kind: int) -> None:
    owner, host = _pair()
    private = owner.seal_shared(COMP, kind, b"{}")
    assert peek_header(private, "x")[1] == FORMAT_VERSION
    with pytest.raises(WriteOnlyError):
        host.open_shared(private, kind, "x")
    forced = owner.seal_shared(COMP, kind, b"{}", host_readable=True)
    owner.shared_index = True
    shared = owner.seal_shared(COMP, kind, b"{}")
    for raw in (forced, shared, host.seal_shared(COMP, kind, b"{}")):
        assert peek_header(raw, "x")[1] == WRITE_ONLY_VERSION
        assert host.open_shared(raw, kind, "x") == owner.open_shared(raw, kind, "x") == b"{}"


def test_only_the_write_only_sealer_refuses_reads_and_the_master_key() -> None:
    owner, host = _pair()
    owner.require_read("reading")
    assert owner.master.public_key == owner.public_key and owner.write_only is None
    with pytest.raises(WriteOnlyError, match="reading data"):
        host.require_read("reading data")
    with pytest.raises(WriteOnlyError):
        host.master  # noqa: B018
    with pytest.raises(WriteOnlyError):
        host.aead.encrypt(b"\0" * 12, b"x", None)
    assert host.write_only is not None and host.private_key is None
