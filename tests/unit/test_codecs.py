"""Round trips and hostile-input fuzzing for every codec of the repository format.

Two layers are fuzzed: the sealed objects as they lie in storage (random bytes
and mutations of valid objects must fail authentication or parsing with an
``IntegrityError``), and the plaintext decoders behind the encryption (an
attacker holding the key, or a bug, must still not crash them with anything
but an ``IntegrityError``).  ``SITESNAP_FUZZ=N`` raises the example count.
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sitesnap.errors import IntegrityError, WrongPassword
from sitesnap.format.blob import DATA, TREE, decode_blob, encode_blob
from sitesnap.format.compress import Compressor, decompress
from sitesnap.format.crypto import FAST_TEST_KDF, MasterKey, storage_id
from sitesnap.format.envelope import (
    KIND_CONFIG,
    KIND_INDEX,
    KIND_LOCK,
    KIND_PACK_HEADER,
    KIND_SNAPSHOT,
    decode_json,
    encode_json,
    open_envelope,
    seal_envelope,
)
from sitesnap.format.index import IndexFile, decode_index, encode_index
from sitesnap.format.pack import PackBuilder, PackEntry, decode_pack_header, split_pack_tail
from sitesnap.format.snapshot import Snapshot
from sitesnap.format.tree import Node, decode_tree, encode_tree
from sitesnap.repository import keys as keyfiles
from sitesnap.repository.lock import parse_lock
from sitesnap.repository.repository import RepoConfig
from sitesnap.storage.memory import MemoryStorage

FUZZ = settings(max_examples=int(os.environ.get("SITESNAP_FUZZ", "150")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
KEY = MasterKey(bytes(range(32)), bytes(range(32, 64)))
AEAD = KEY.aead()
COMP = Compressor(3)
KINDS = [KIND_CONFIG, KIND_INDEX, KIND_SNAPSHOT, KIND_LOCK, KIND_PACK_HEADER]

# Payloads that compress (repetitive) and that do not (random-ish).
payloads = st.one_of(st.binary(max_size=2048), st.binary(min_size=1, max_size=64).map(lambda b: b * 97))


def only_integrity_error(func: Callable[[], Any]) -> None:
    """Call ``func``; any exception other than IntegrityError fails the test."""
    with contextlib.suppress(IntegrityError):
        func()


@st.composite
def mutated(draw: st.DrawFn, valid: bytes) -> bytes:
    """``valid`` with a flipped bit, a cut, an insertion or a splice."""
    how = draw(st.sampled_from(["flip", "truncate", "extend", "overwrite"]))
    data = bytearray(valid)
    if how == "flip" and data:
        bit = draw(st.integers(0, len(data) * 8 - 1))
        data[bit // 8] ^= 1 << (bit % 8)
    elif how == "truncate":
        data = data[: draw(st.integers(0, max(0, len(data) - 1)))]
    elif how == "extend":
        data += draw(st.binary(min_size=1, max_size=16))
    else:
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        chunk = draw(st.binary(min_size=1, max_size=8))
        data[pos : pos + len(chunk)] = chunk
        if bytes(data) == valid:
            data += b"\0"
    return bytes(data)


# --- envelope ---------------------------------------------------------------------------


@FUZZ
@given(kind=st.sampled_from(KINDS), payload=payloads)
def test_envelope_round_trip(kind: int, payload: bytes) -> None:
    sealed = seal_envelope(AEAD, COMP, kind, payload)
    assert open_envelope(AEAD, sealed, kind, "obj") == payload


@FUZZ
@given(kind=st.sampled_from(KINDS), payload=payloads, data=st.data())
def test_envelope_detects_every_mutation(kind: int, payload: bytes, data: st.DataObject) -> None:
    sealed = seal_envelope(AEAD, COMP, kind, payload)
    bad = data.draw(mutated(sealed))
    with pytest.raises(IntegrityError):
        open_envelope(AEAD, bad, kind, "obj")


@FUZZ
@given(raw=st.binary(max_size=512), kind=st.sampled_from(KINDS))
def test_envelope_random_bytes(raw: bytes, kind: int) -> None:
    with pytest.raises(IntegrityError):
        open_envelope(AEAD, b"SSNP" + bytes([kind, 1]) + raw, kind, "obj")
    only_integrity_error(lambda: open_envelope(AEAD, raw, kind, "obj"))


def test_envelope_refuses_wrong_kind_and_key() -> None:
    sealed = seal_envelope(AEAD, COMP, KIND_SNAPSHOT, b"{}")
    with pytest.raises(IntegrityError, match="kind"):
        open_envelope(AEAD, sealed, KIND_INDEX, "obj")
    with pytest.raises(IntegrityError, match="authentication"):
        open_envelope(MasterKey.generate().aead(), sealed, KIND_SNAPSHOT, "obj")


# --- blobs and compression ----------------------------------------------------------------


@FUZZ
@given(payload=payloads, blob_type=st.sampled_from([DATA, TREE]))
def test_blob_round_trip(payload: bytes, blob_type: int) -> None:
    enc = encode_blob(KEY, AEAD, COMP, blob_type, payload)
    assert enc.id == KEY.content_id(payload)
    assert decode_blob(KEY, AEAD, blob_type, enc.id, enc.sealed, enc.plain_size) == payload


@FUZZ
@given(payload=payloads, data=st.data())
def test_blob_detects_mutation_and_swaps(payload: bytes, data: st.DataObject) -> None:
    enc = encode_blob(KEY, AEAD, COMP, DATA, payload)
    with pytest.raises(IntegrityError):
        decode_blob(KEY, AEAD, DATA, enc.id, data.draw(mutated(enc.sealed)), enc.plain_size)
    with pytest.raises(IntegrityError):  # the same bytes under another ID or type
        decode_blob(KEY, AEAD, DATA, bytes(32), enc.sealed, enc.plain_size)
    with pytest.raises(IntegrityError):
        decode_blob(KEY, AEAD, TREE, enc.id, enc.sealed, enc.plain_size)


@FUZZ
@given(mode=st.integers(0, 255), raw=st.binary(max_size=256), size=st.integers(0, 1 << 20))
def test_decompress_random_input(mode: int, raw: bytes, size: int) -> None:
    only_integrity_error(lambda: decompress(mode, raw, size, "blob"))


def test_incompressible_data_is_stored_raw() -> None:
    data = os.urandom(256 << 10)
    assert COMP.compress(data)[0] == 0
    assert COMP.compress(b"a" * (256 << 10))[0] == 1


# --- packs ----------------------------------------------------------------------------------


def _pack(blobs: list[bytes]) -> tuple[bytes, list[PackEntry]]:
    builder = PackBuilder()
    for i, b in enumerate(blobs):
        enc = encode_blob(KEY, AEAD, COMP, i % 2, b)
        builder.add(enc.type, enc.id, enc.sealed, enc.plain_size)
    entries = list(builder.entries)
    return builder.finish(AEAD, COMP), entries


def _read_pack(raw: bytes) -> list[PackEntry]:
    length = split_pack_tail(raw[-4:], len(raw), "pack")
    off = len(raw) - 4 - length
    return decode_pack_header(AEAD, raw[off:-4], off, "pack")


@FUZZ
@given(blobs=st.lists(payloads, min_size=1, max_size=6))
def test_pack_round_trip(blobs: list[bytes]) -> None:
    raw, entries = _pack(blobs)
    assert _read_pack(raw) == entries
    for e, b in zip(entries, blobs, strict=True):
        assert decode_blob(KEY, AEAD, e.type, e.id, raw[e.offset : e.offset + e.length], e.plain_size) == b


@FUZZ
@given(blobs=st.lists(payloads, min_size=1, max_size=4), data=st.data())
def test_pack_mutation_detected(blobs: list[bytes], data: st.DataObject) -> None:
    raw, entries = _pack(blobs)
    bad = data.draw(mutated(raw))
    assert storage_id(bad) != storage_id(raw)  # the name alone gives it away

    def read_all() -> None:
        got = _read_pack(bad)
        for e in got:
            decode_blob(KEY, AEAD, e.type, e.id, bad[e.offset : e.offset + e.length], e.plain_size)
        for e in entries:  # what the index says must also still hold
            decode_blob(KEY, AEAD, e.type, e.id, bad[e.offset : e.offset + e.length], e.plain_size)

    with pytest.raises(IntegrityError):
        read_all()


@FUZZ
@given(raw=st.binary(max_size=600))
def test_pack_random_bytes(raw: bytes) -> None:
    only_integrity_error(lambda: _read_pack(raw))


# --- index ----------------------------------------------------------------------------------

entries = st.builds(PackEntry, st.sampled_from([DATA, TREE]), st.binary(min_size=32, max_size=32),
                    st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))
index_files = st.builds(
    IndexFile,
    st.dictionaries(st.binary(min_size=32, max_size=32), st.lists(entries, max_size=5), max_size=4),
    st.lists(st.binary(min_size=32, max_size=32), max_size=3),
)


@FUZZ
@given(index=index_files)
def test_index_round_trip(index: IndexFile) -> None:
    got = decode_index(encode_index(index), "index")
    assert got.packs == index.packs
    assert got.supersedes == index.supersedes


@FUZZ
@given(raw=st.binary(max_size=400))
def test_index_random_bytes(raw: bytes) -> None:
    only_integrity_error(lambda: decode_index(raw, "index"))


@FUZZ
@given(index=index_files, data=st.data())
def test_index_mutations(index: IndexFile, data: st.DataObject) -> None:
    raw = data.draw(mutated(encode_index(index)))
    only_integrity_error(lambda: decode_index(raw, "index"))


@pytest.mark.timeout(10)
def test_index_huge_counts_fail_fast() -> None:
    """A count field claiming billions of entries must not allocate or loop for them."""
    with pytest.raises(IntegrityError):
        decode_index(struct.pack("<II", 0, 0xFFFFFFFF), "index")
    with pytest.raises(IntegrityError):
        decode_index(struct.pack("<I32sI", 1, bytes(32), 0xFFFFFFFF), "index")
    with pytest.raises(IntegrityError):
        decode_index(struct.pack("<I", 0xFFFFFFFF), "index")


# --- trees ----------------------------------------------------------------------------------

names = st.one_of(
    st.binary(min_size=1, max_size=24).filter(lambda b: b"/" not in b and b"\0" not in b),
    st.text(alphabet="备份网站快照数据文件ab.-_ ", min_size=1, max_size=12).map(lambda s: s.encode()),
)
ints = st.integers(0, 2**40)


@st.composite
def nodes(draw: st.DrawFn) -> Node:
    kind = draw(st.sampled_from(["file", "dir", "symlink"]))
    node = Node(name=draw(names), type=kind, mode=draw(st.integers(0, 0o7777)), uid=draw(ints), gid=draw(ints),
                user=draw(st.text(max_size=8)), group=draw(st.text(max_size=8)),
                mtime_ns=draw(st.integers(-(2**62), 2**62)), ctime_ns=draw(ints))
    if draw(st.booleans()):
        node.inode, node.dev, node.nlink = draw(st.integers(1, 2**40)), draw(ints), draw(st.integers(1, 9))
    if kind == "file":
        node.size = draw(ints)
        node.content = draw(st.lists(st.binary(min_size=32, max_size=32), max_size=4))
    elif kind == "dir":
        node.subtree = draw(st.binary(min_size=32, max_size=32))
    else:
        node.target = draw(st.binary(min_size=1, max_size=40).filter(lambda b: b"\0" not in b))
    return node


@FUZZ
@given(tree=st.lists(nodes(), max_size=6, unique_by=lambda n: n.name))
def test_tree_round_trip(tree: list[Node]) -> None:
    got = decode_tree(encode_tree(list(tree)), "tree")
    assert got == sorted(tree, key=lambda n: n.name)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
node_fields = ["type", "name", "name_b64", "mode", "uid", "gid", "mtime_ns", "ctime_ns", "inode", "dev", "nlink",
               "size", "content", "subtree", "target", "target_b64", "user", "group"]
hostile_nodes = st.dictionaries(st.sampled_from(node_fields), json_values | st.sampled_from(
    ["file", "dir", "symlink", "ab" * 32, "zz", "Zm9v", 1e308]), max_size=10)


def _json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, allow_nan=True).encode()


@FUZZ
@given(doc=st.one_of(json_values, st.fixed_dictionaries({"nodes": st.lists(hostile_nodes, max_size=4)})))
def test_tree_hostile_json(doc: Any) -> None:
    only_integrity_error(lambda: decode_tree(_json_bytes(doc), "tree"))


@FUZZ
@given(raw=st.binary(max_size=300))
def test_tree_random_bytes(raw: bytes) -> None:
    only_integrity_error(lambda: decode_tree(raw, "tree"))


def test_tree_special_numbers_rejected_cleanly() -> None:
    for bad in ("1e999", "-1e999", "NaN", "Infinity"):
        raw = b'{"nodes":[{"type":"file","name":"a","mode":' + bad.encode() + b"}]}"
        with pytest.raises(IntegrityError):
            decode_tree(raw, "tree")
    with pytest.raises(IntegrityError):
        decode_json(b"[" * 100_000, "tree")


# --- snapshots, config, locks --------------------------------------------------------------


@FUZZ
@given(paths=st.lists(st.text(max_size=20), max_size=3), tags=st.lists(st.text(max_size=8), max_size=3),
       tree=st.binary(min_size=32, max_size=32), host=st.text(max_size=20))
def test_snapshot_round_trip(paths: list[str], tags: list[str], tree: bytes, host: str) -> None:
    snap = Snapshot(time=datetime(2026, 11, 25, 12, 0, 0, 123456, tzinfo=UTC), tree=tree, paths=paths,
                    hostname=host, tags=tags, type="full", parent="ab" * 32, summary={"files_new": 3})
    raw = seal_envelope(AEAD, COMP, KIND_SNAPSHOT, encode_json(snap.to_json()))
    back = Snapshot.from_json(decode_json(open_envelope(AEAD, raw, KIND_SNAPSHOT, "s"), "s"), "id")
    snap.id = "id"
    assert back == snap


snapshot_fields = ["time", "tree", "paths", "hostname", "username", "tags", "type", "parent", "site", "sources",
                   "summary", "program_version"]


@FUZZ
@given(doc=st.one_of(json_values, st.dictionaries(st.sampled_from(snapshot_fields), json_values | st.sampled_from(
    ["2026-11-25T12:00:00+00:00", "2026-11-25T12:00:00", "ab" * 32]), max_size=12)))
def test_snapshot_hostile_json(doc: Any) -> None:
    only_integrity_error(lambda: Snapshot.from_json(doc, "s" * 64))


@FUZZ
@given(doc=st.one_of(json_values, st.dictionaries(st.sampled_from(["id", "version", "created", "chunker",
                                                                    "compression"]), json_values, max_size=5)))
def test_config_hostile_json(doc: Any) -> None:
    only_integrity_error(lambda: RepoConfig.from_json(doc))


@FUZZ
@given(doc=st.one_of(json_values, st.dictionaries(st.sampled_from(["time", "hostname", "username", "pid",
                                                                    "exclusive", "operation"]),
                                                   json_values | st.just("2026-11-25T12:00:00+00:00"), max_size=6)))
def test_lock_hostile_json(doc: Any) -> None:
    only_integrity_error(lambda: parse_lock("l" * 64, doc))


# --- key files ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def key_store() -> tuple[MemoryStorage, str]:
    storage = MemoryStorage()
    key_id = keyfiles.add_key(storage, KEY, "pw", kdf=FAST_TEST_KDF)
    return storage, key_id


def test_key_round_trip(key_store: tuple[MemoryStorage, str]) -> None:
    storage, key_id = key_store
    master, used = keyfiles.unlock(storage, "pw", "mem")
    assert master == KEY and used == key_id


def _unlock_with(doc_bytes: bytes) -> None:
    storage = MemoryStorage()
    storage.write(keyfiles.KEYS_PREFIX + storage_id(doc_bytes), doc_bytes)
    keyfiles.unlock(storage, "pw", "mem")


@settings(FUZZ, max_examples=min(FUZZ.max_examples, 80))
@given(data=st.data())
def test_key_file_mutations(key_store: tuple[MemoryStorage, str], data: st.DataObject) -> None:
    """A mutated key file, renamed to match its content, opens nothing and fails cleanly."""
    storage, key_id = key_store
    valid = storage.read(keyfiles.KEYS_PREFIX + key_id)
    bad = data.draw(mutated(valid))
    try:
        _unlock_with(bad)
    except (IntegrityError, WrongPassword):
        return
    # Only mutations outside the wrapped key (e.g. the label) may still open it.
    assert json.loads(bad)["data"] == json.loads(valid)["data"]


@FUZZ
@given(doc=st.one_of(json_values, st.dictionaries(
    st.sampled_from(["version", "kdf", "salt", "data", "created", "label"]),
    json_values | st.sampled_from([{"name": "scrypt", "n": 3, "r": 8, "p": 1}, {"name": "argon2id"},
                                   {"name": "scrypt", "n": 1e999, "r": 8, "p": 1}, "AAAA", "!!"]), max_size=6)))
def test_key_file_hostile_json(doc: Any) -> None:
    with contextlib.suppress(IntegrityError, WrongPassword):
        _unlock_with(_json_bytes(doc))


def test_key_file_damage_is_named(key_store: tuple[MemoryStorage, str]) -> None:
    storage, key_id = key_store
    copy = MemoryStorage()
    raw = bytearray(storage.read(keyfiles.KEYS_PREFIX + key_id))
    raw[40] ^= 1
    copy.write(keyfiles.KEYS_PREFIX + key_id, bytes(raw))
    with pytest.raises(IntegrityError, match=key_id[:8]):
        keyfiles.unlock(copy, "pw", "mem")
