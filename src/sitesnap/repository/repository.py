"""The repository: packs, index, trees, snapshots and locks over a Storage.

Crash safety comes from write order (docs/format/v1.md, "Write order"): a
pack is written completely (atomic ``write``) before an index names it, and
an index before a snapshot references its blobs.  A crash at any point
leaves, at worst, packs or indexes nothing references; ``prune`` removes them.

Thread-safety: ``save_blob`` and ``load_blob`` may be called from many
threads; encoding (compress + encrypt) runs in the caller's thread, only the
append to the open pack is serialized.

Write-only mode (:meth:`Repository.open_write_only`, docs/format/v1.md
section 13): opened with a write-only key instead of a password, the
repository seals new blobs, pack headers and snapshots to the public key,
reads and writes version 2 index files and locks, and refuses every read of
data or snapshots with WriteOnlyError.

Key generations (docs/format/v1.md section 14): after ``key rotate`` the
config has format version 2 and names its key generation; :meth:`open`
picks the key slot whose master key opens ``config`` and loads the older
generations from the keyring, so every reader also opens what older keys
sealed (``MasterKey.older``), while everything new is sealed with the
current key.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NoReturn, cast

import blake3
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sitesnap import __version__
from sitesnap.errors import (
    FormatVersionError,
    IntegrityError,
    ObjectExists,
    ObjectNotFound,
    RepositoryExists,
    RepositoryLocked,
    RepositoryNotFound,
    RetiredKey,
    SnapshotNotFound,
    UsageError,
    WriteOnlyError,
)
from sitesnap.format.blob import TREE, decode_blob, encode_blob, type_name
from sitesnap.format.chunker import ChunkerParams
from sitesnap.format.compress import Compressor
from sitesnap.format.crypto import MasterKey, storage_id
from sitesnap.format.envelope import (
    FORMAT_VERSION,
    KIND_CONFIG,
    KIND_INDEX,
    KIND_LOCK,
    KIND_SNAPSHOT,
    decode_json,
    encode_json,
    open_envelope,
    peek_header,
    seal_envelope,
    seal_envelope_public,
    seal_envelope_shared,
)
from sitesnap.format.index import IndexFile, decode_index, encode_index
from sitesnap.format.pack import PackBuilder, PackEntry, decode_pack_header
from sitesnap.format.snapshot import Snapshot
from sitesnap.format.tree import Node, decode_tree, encode_tree
from sitesnap.ids import new_random_id
from sitesnap.repository import keyring, writeonly
from sitesnap.repository import keys as keyfiles
from sitesnap.repository.lock import (
    LOCKS_PREFIX,
    LockInfo,
    RepoLock,
    conflicts,
    parse_lock,
    raise_conflict,
)
from sitesnap.repository.masterindex import MasterIndex
from sitesnap.repository.packfile import FilePackBuilder
from sitesnap.storage.base import Storage

__all__ = ["KEY_GENERATIONS_FORMAT", "READABLE_FORMATS", "RepoConfig", "Repository", "pack_name", "require_format"]

CONFIG_NAME = "config"
INDEX_PREFIX = "index/"
SNAPSHOTS_PREFIX = "snapshots/"
DATA_PREFIX = "data/"
PACK_TARGET = 16 << 20
PACKS_PER_INDEX = 64
READ_SPAN = 8 << 20
# Repository format versions (config's "version"): 1 is written by init, 2 after a key rotation (section 14).
KEY_GENERATIONS_FORMAT = 2
READABLE_FORMATS = (FORMAT_VERSION, KEY_GENERATIONS_FORMAT)
# Database dumps change in scattered rows: each changed row costs a whole chunk, so dump chunks are
# small (8 KiB: a 1 % random-row change adds about 8 % of the dump, docs/performance.md).
DUMP_AVG, DUMP_MIN, DUMP_MAX = 8 << 10, 2 << 10, 32 << 10
# zstd level 1 on chunks that small is 1.8x faster than level 3 and compresses SQL text as well
# (measured on a pg_dump: 452 vs 257 MB/s, ratio 6.07 vs 5.90), so dumps use it.
DUMP_COMPRESSION = 1


def require_format(version: int, readable: tuple[int, ...] = READABLE_FORMATS) -> None:
    """FormatVersionError unless a reader of the ``readable`` formats may read a config of ``version``."""
    if version not in readable:
        raise FormatVersionError(
            f"repository format version {version}, this sitesnap reads {' and '.join(map(str, readable))}"
        )


def pack_name(pack_id: bytes | str) -> str:
    hex_id = pack_id if isinstance(pack_id, str) else pack_id.hex()
    return f"{DATA_PREFIX}{hex_id[:2]}/{hex_id}"


@dataclass(frozen=True)
class RepoConfig:
    id: str
    version: int
    created: str
    chunker: ChunkerParams
    compression: int = 3
    dump_chunker: ChunkerParams | None = None
    key_generation: int = 0  # format 2: how many times the master key was rotated
    retired_slots: tuple[str, ...] = ()  # format 2: key slots that wrapped the previous master key
    dump_compression: int | None = None  # zstd level for database dumps; None: ``compression``

    @property
    def stream_chunker(self) -> ChunkerParams:
        """Chunking for database dumps: smaller chunks, so scattered row changes cost little.

        Repositories created before ``dump_chunker`` existed use the file chunker.
        """
        return self.dump_chunker or self.chunker

    @property
    def stream_compression(self) -> int:
        """zstd level for database dumps (``dump_compression``, else ``compression``)."""
        return self.compression if self.dump_compression is None else self.dump_compression

    def to_json(self) -> dict[str, Any]:
        out = {
            "id": self.id,
            "version": self.version,
            "created": self.created,
            "chunker": self.chunker.to_dict(),
            "compression": self.compression,
        }
        if self.dump_chunker is not None:
            out["dump_chunker"] = self.dump_chunker.to_dict()
        if self.dump_compression is not None:
            out["dump_compression"] = self.dump_compression
        if self.version >= KEY_GENERATIONS_FORMAT:
            out["key_generation"] = self.key_generation
            out["retired_slots"] = list(self.retired_slots)
        return out

    @classmethod
    def from_json(cls, data: Any) -> RepoConfig:
        try:
            return cls(
                str(data["id"]),
                int(data["version"]),
                str(data["created"]),
                ChunkerParams.from_dict(data["chunker"]),
                int(data.get("compression", 3)),
                ChunkerParams.from_dict(data["dump_chunker"]) if "dump_chunker" in data else None,
                int(data.get("key_generation", 0)),
                tuple(str(k) for k in data.get("retired_slots", ())),
                dump_compression=int(data["dump_compression"]) if "dump_compression" in data else None,
            )
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise IntegrityError(f"config is malformed ({exc})") from None


@dataclass
class WriteStats:
    blobs_new: int = 0
    bytes_new_plain: int = 0
    bytes_new_stored: int = 0
    packs_written: int = 0
    extra: dict[str, int] = field(default_factory=dict)


class _OpenPack:
    def __init__(self) -> None:
        self.builder = PackBuilder()


class _NoMasterKey:
    """Stands in for the AES-GCM of the master key on a write-only host: any use is refused loudly."""

    def encrypt(self, *_: object) -> NoReturn:
        raise WriteOnlyError("encrypting with the master key")

    def decrypt(self, *_: object) -> NoReturn:
        raise WriteOnlyError("reading data")


def _opens_index(index_aead: AESGCM, raw: bytes, what: str) -> bool:
    try:
        open_envelope(None, raw, KIND_INDEX, what, index_aead=index_aead)
    except IntegrityError:
        return False
    return True


def _unlock_config(storage: Storage, raw: bytes, password: str, location: str) -> tuple[MasterKey, str, bytes]:
    """(master key, key id, config plaintext) of the first slot ``password`` opens whose key opens ``config``."""
    refused: list[MasterKey] = []
    for master, key_id in keyfiles.open_slots(storage, password, location):
        try:
            return master, key_id, open_envelope(master.aead(), raw, KIND_CONFIG, "config")
        except FormatVersionError:
            raise
        except IntegrityError:
            refused.append(master)
    _refuse_slots(storage, raw, refused)


def _refuse_slots(storage: Storage, config_raw: bytes, refused: list[MasterKey]) -> NoReturn:
    """Why no key the password opens fits ``config``: a damaged config, or only retired keys.

    A key that opens a keyring is current (or was about to become so), and so
    is any key when the repository has no keyring at all (never rotated):
    then the config itself is damaged and its IntegrityError is raised.
    """
    if not keyring.keyring_ids(storage) or any(keyring.opens_a_keyring(storage, m) for m in refused):
        open_envelope(refused[0].aead(), config_raw, KIND_CONFIG, "config")
    raise RetiredKey()


class Repository:
    """An open, unlocked repository.  Create with :meth:`init`, :meth:`open` or :meth:`open_write_only`."""

    def __init__(
        self,
        storage: Storage,
        master: MasterKey,
        config: RepoConfig,
        key_id: str,
        *,
        write_only: writeonly.WriteOnlyKey | None = None,
        shared_index: bool = False,
    ) -> None:
        self.storage = storage
        self.write_only = write_only
        # Index files and locks go into version 2 envelopes (readable with the index key)
        # on write-only hosts and once a write-only key exists for the repository.
        self.shared_index = shared_index or write_only is not None
        self.private_key: X25519PrivateKey | None
        self._v1_aead: AESGCM | None
        if write_only is None:
            self.adopt_master(master, config, key_id)
        else:
            self._master, self._id_key, self.config, self.key_id = master, master.id_key, config, key_id
            self.aead = cast(AESGCM, _NoMasterKey())
            self._v1_aead = None
            self.index_aead = AESGCM(write_only.index_key)
            self.public_key = write_only.public_key
            self.private_key = None
        self.compressor = Compressor(config.compression)
        self.stream_compressor = Compressor(config.stream_compression)
        self.index = MasterIndex()
        self.stats = WriteStats()
        self._lock = threading.Lock()
        self._pending: set[tuple[int, bytes]] = set()
        self._open: dict[int, PackBuilder | FilePackBuilder] = {}  # made on first use
        self._unindexed: dict[bytes, list[PackEntry]] = {}
        self._uploads: list[Future[None]] = []
        self._upload_pool: ThreadPoolExecutor | None = None
        # A local disk takes packs as files filled blob by blob (repository/packfile.py): no pack
        # in memory, one being finished in the background.  Network backends get packs built in
        # memory with two in flight to hide latency; the memory backend writes them in place.
        self._append_packs = callable(getattr(storage, "open_append", None))
        self._sync_uploads = storage.properties.kind == "memory" and not self._append_packs
        self._upload_slots = threading.BoundedSemaphore(1 if self._sync_uploads else 2)
        self._index_loaded = False
        self._tree_pack_id = b""  # the tree pack kept by _load_tree_blob
        self._tree_pack = b""
        self._tree_pack_misses: dict[bytes, int] = {}
        self.unreadable_indexes: list[str] = []
        self.foreign_locks: list[str] = []
        self.pack_target = PACK_TARGET

    # --- creation and opening -----------------------------------------------------

    @classmethod
    def init(
        cls,
        storage: Storage,
        password: str,
        *,
        kdf: dict[str, Any] | None = None,
        chunker: ChunkerParams | None = None,
        compression: int = 3,
        id_key: bytes | None = None,
        dump_chunker: ChunkerParams | None = None,
    ) -> Repository:
        """Create a new repository; refuses if one exists at the location.

        ``id_key`` (with ``chunker``) reuses another repository's blob ID key,
        so both give equal blobs equal IDs and ``copy`` moves only what is
        missing; the encryption key is always fresh.
        """
        location = storage.properties.url
        storage.create()
        try:
            storage.stat(CONFIG_NAME)
        except ObjectNotFound:
            pass
        else:
            raise RepositoryExists(location=location)
        if any(True for _ in storage.list(keyfiles.KEYS_PREFIX)):
            raise RepositoryExists(location=location, detail="it has key files but no config")
        master = MasterKey(os.urandom(32), id_key) if id_key is not None else MasterKey.generate()
        seed = int.from_bytes(os.urandom(8), "little") & ((1 << 63) - 1)
        params = chunker or ChunkerParams(seed=seed)
        config = RepoConfig(
            id=new_random_id(),
            version=FORMAT_VERSION,
            created=datetime.now(UTC).isoformat(),
            chunker=params,
            compression=compression,
            dump_chunker=dump_chunker or ChunkerParams(DUMP_AVG, DUMP_MIN, DUMP_MAX, seed=params.seed),
            dump_compression=min(compression, DUMP_COMPRESSION),
        )
        key_id = keyfiles.add_key(storage, master, password, kdf=kdf, label="initial")
        repo = cls(storage, master, config, key_id)
        # The config is written last: a repository without config is not a repository yet.
        raw = seal_envelope(repo.aead, repo.compressor, KIND_CONFIG, encode_json(config.to_json()))
        try:
            storage.write(CONFIG_NAME, raw, exclusive=True)
        except ObjectExists:
            raise RepositoryExists(location=location) from None
        repo._index_loaded = True
        return repo

    def adopt_master(self, master: MasterKey, config: RepoConfig, key_id: str) -> None:
        """Use ``master`` (with the older generations it carries) from now on; ``key rotate`` calls this."""
        self._master = master
        self._id_key = master.id_key
        self.config = config
        self.key_id = key_id
        self.aead = master.aead()
        self._v1_aead = self.aead
        self.index_aead = master.index_aead()
        self.public_key = master.public_key
        self.private_key = master.private_key

    @classmethod
    def open(cls, storage: Storage, password: str) -> Repository:
        """Unlock with ``password``: the first key slot whose master key opens ``config`` wins.

        A slot that opens but whose key does not open ``config`` wraps a
        retired master key (or the key of a rotation that never completed);
        if only such slots open, RetiredKey.  In format 2 the older key
        generations come from the keyring.
        """
        location = storage.properties.url
        try:
            raw = storage.read(CONFIG_NAME)
        except ObjectNotFound:
            raise RepositoryNotFound(location=location) from None
        peek_header(raw, "config")
        master, key_id, plain = _unlock_config(storage, raw, password, location)
        config = RepoConfig.from_json(decode_json(plain, "config"))
        require_format(config.version)
        if config.version >= KEY_GENERATIONS_FORMAT:
            master = master.with_older(keyring.scan_keyrings(storage, master, config.key_generation).older)
        return cls(storage, master, config, key_id, shared_index=writeonly.has_markers(storage))

    @classmethod
    def open_write_only(cls, storage: Storage, key: writeonly.WriteOnlyKey) -> Repository:
        """Open for adding snapshots only, with a write-only key (no password, no master key).

        Refuses (UsageError) a repository with no write-only marker for the
        key's public key: the key belongs to another repository, or was retired.
        """
        location = storage.properties.url
        try:
            peek_header(storage.read(CONFIG_NAME), "config")
        except ObjectNotFound:
            raise RepositoryNotFound(location=location) from None
        if key.public_key not in writeonly.marker_public_keys(storage):
            raise UsageError(
                f"this write-only key is not enabled for the repository at {location}",
                hint="It belongs to another repository or was retired; export a new one with "
                     "'sitesnap key write-only export' where the password is known.",
            )
        config = RepoConfig(key.repository_id, FORMAT_VERSION, "", key.chunker, key.compression, key.dump_chunker)
        # The master key's encryption half is unknown here; a random one is never used (see _NoMasterKey).
        master = MasterKey(os.urandom(32), key.id_key)
        return cls(storage, master, config, "", write_only=key)

    @property
    def master(self) -> MasterKey:
        """The master key; WriteOnlyError on a write-only host, which has none."""
        self.require_read("using the master key")
        return self._master

    def require_read(self, what: str) -> None:
        """Raise WriteOnlyError when opened with a write-only key."""
        if self.write_only is not None:
            raise WriteOnlyError(what)

    def write_only_key(self) -> writeonly.WriteOnlyKey:
        """A write-only key for this repository (the password holder's side)."""
        self.require_read("exporting a write-only key")
        return writeonly.WriteOnlyKey.from_master(self.master, self.config.id, self.config.chunker,
                                                  self.config.dump_chunker, self.config.compression)

    def enable_write_only(self, label: str = "") -> writeonly.WriteOnlyKey:
        """Allow write-only hosts: write the marker, re-seal index files for them, return their key.

        Takes an exclusive lock.  Index files written with the master key are
        rewritten with the index key (new file first, then the old one is
        deleted, as ``prune`` does), so hosts deduplicate against all data
        stored so far; from now on every password holder writes index files
        and locks that hosts can read.  Index files sealed with an older key
        generation's index key (before ``key rotate``) are re-sealed too.
        Idempotent.
        """
        key = self.write_only_key()
        host_readable = AESGCM(key.index_key)
        with self.lock(exclusive=True, operation="write-only export"):
            writeonly.write_marker(self.storage, key.public_key, label)
            self.shared_index = True
            for index_id in self.list_ids(INDEX_PREFIX):
                raw = self.storage.read(INDEX_PREFIX + index_id)
                what = f"index {index_id[:8]}"
                if peek_header(raw, what)[1] != FORMAT_VERSION and _opens_index(host_readable, raw, what):
                    continue
                old = self.read_index(index_id)
                self.write_index(IndexFile(old.packs, [bytes.fromhex(index_id)]))
                self.storage.delete(INDEX_PREFIX + index_id)
                self.index.index_ids.discard(index_id)
        return key

    def decode_pack_header(self, sealed: bytes, header_offset: int, what: str) -> list[PackEntry]:
        """A pack's entries from its sealed header, written by a password holder or a write-only host."""
        self.require_read(f"reading {what}")
        return decode_pack_header(self.aead, sealed, header_offset, what, private_key=self.private_key)

    @classmethod
    def import_key_file(cls, storage: Storage, raw: bytes, password: str) -> str:
        """Restore an exported key file into ``keys/``; returns its key id.

        Works when no key file of the repository is left.  The key file must
        open with ``password`` and its master key must open this repository's
        ``config`` before anything is written, so a key of another repository
        is refused (UsageError) rather than added.
        """
        location = storage.properties.url
        try:
            config_raw = storage.read(CONFIG_NAME)
        except ObjectNotFound:
            raise RepositoryNotFound(location=location) from None
        master = keyfiles.read_key_file(raw, password)
        try:
            open_envelope(master.aead(), config_raw, KIND_CONFIG, "config")
        except FormatVersionError:
            raise
        except IntegrityError:
            raise UsageError(
                "this key file does not open this repository's config",
                hint="It belongs to another repository, or the config is damaged ('sitesnap check').",
            ) from None
        return keyfiles.store_key_file(storage, raw)

    def close(self) -> None:
        with self._lock:
            abandoned, self._open = list(self._open.values()), {}
        for builder in abandoned:  # a run that failed before flush: its temp pack files go
            if isinstance(builder, FilePackBuilder):
                builder.abort()
        if self._upload_pool is not None:
            self._upload_pool.shutdown(wait=True)
            self._upload_pool = None
        self.storage.close()

    def __enter__(self) -> Repository:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- index ----------------------------------------------------------------------

    def list_ids(self, prefix: str) -> list[str]:
        return sorted(info.name[len(prefix) :] for info in self.storage.list(prefix) if ".tmp" not in info.name)

    def load_index(self, *, strict: bool = True) -> list[str]:
        """Load every index file (in parallel).  Returns IDs of damaged ones when not strict."""
        ids = self.list_ids(INDEX_PREFIX)
        damaged: list[str] = []

        def fetch(index_id: str) -> tuple[str, IndexFile | None, Exception | None]:
            try:
                return index_id, self.read_index(index_id), None
            except (IntegrityError, ObjectNotFound) as exc:
                return index_id, None, exc
            except WriteOnlyError:
                return index_id, None, None

        with ThreadPoolExecutor(max_workers=8) as pool:
            for index_id, idx, err in pool.map(fetch, ids):
                if idx is None and err is None:
                    # Written with the master key before write-only mode: a host cannot read
                    # it and simply does not deduplicate against it.
                    self.unreadable_indexes.append(index_id)
                    continue
                if idx is None:
                    if strict:
                        assert err is not None
                        raise err
                    damaged.append(index_id)
                    continue
                self.index.add_index(index_id, idx)
        self._index_loaded = True
        return damaged

    def read_index(self, index_id: str) -> IndexFile:
        raw = self.storage.read(INDEX_PREFIX + index_id)
        what = f"index {index_id[:8]}"
        if storage_id(raw) != index_id:
            raise IntegrityError(f"{what} does not match its name (damaged)")
        return decode_index(open_envelope(self._v1_aead, raw, KIND_INDEX, what, index_aead=self.index_aead), what)

    def write_index(self, index: IndexFile) -> str:
        if self.shared_index or index.has_write_only():
            raw = seal_envelope_shared(self.index_aead, self.compressor, KIND_INDEX, encode_index(index))
        else:
            raw = seal_envelope(self.aead, self.compressor, KIND_INDEX, encode_index(index))
        index_id = storage_id(raw)
        self.storage.write(INDEX_PREFIX + index_id, raw)
        self.index.index_ids.add(index_id)
        return index_id

    # --- blobs ----------------------------------------------------------------------

    def blob_location(self, blob_type: int, blob_id: bytes) -> tuple[bytes, int, int, int] | None:
        return self.index.lookup(blob_type, blob_id)

    def content_id(self, data: bytes | memoryview) -> bytes:
        return blake3.blake3(data, key=self._id_key).digest()

    def has_blob(self, blob_type: int, blob_id: bytes) -> bool:
        return self.index.has(blob_type, blob_id) or (blob_type, blob_id) in self._pending

    def save_blob(
        self, blob_type: int, data: bytes | memoryview, blob_id: bytes | None = None, *, dump: bool = False
    ) -> tuple[bytes, int]:
        """Store ``data`` unless present; returns (id, bytes added to the repository).

        ``dump``: a chunk of a database dump, compressed at the dump level.
        """
        if blob_id is None:
            blob_id = self.content_id(data)
        key = (blob_type, blob_id)
        with self._lock:
            if self.index.has(blob_type, blob_id) or key in self._pending:
                return blob_id, 0
            self._pending.add(key)
        sealed_to = self.public_key if self.write_only is not None else None
        compressor = self.stream_compressor if dump else self.compressor
        encoded = encode_blob(None, self.aead, compressor, blob_type, data, blob_id, public_key=sealed_to)
        finished: PackBuilder | FilePackBuilder | None = None
        with self._lock:
            builder = self._open.get(blob_type) or self._new_builder(blob_type)
            entry = builder.add(blob_type, blob_id, encoded.sealed, encoded.plain_size,
                                write_only=sealed_to is not None)
            self.stats.blobs_new += 1
            self.stats.bytes_new_plain += encoded.plain_size
            self.stats.bytes_new_stored += len(encoded.sealed)
            if builder.size >= self.pack_target:
                finished = builder
                del self._open[blob_type]
        if isinstance(builder, FilePackBuilder):
            builder.write(entry, encoded.sealed)  # outside the lock: writers run in parallel
        if finished is not None:
            self._submit_pack(finished)
        return blob_id, len(encoded.sealed)

    def _new_builder(self, blob_type: int) -> PackBuilder | FilePackBuilder:
        """The open pack for ``blob_type`` (caller holds the lock): a temp file on a local disk."""
        append = self._append_packs
        builder = FilePackBuilder(self.storage.open_append(DATA_PREFIX)) if append else PackBuilder()  # type: ignore[attr-defined]
        self._open[blob_type] = builder
        return builder

    def _submit_pack(self, builder: PackBuilder | FilePackBuilder) -> None:
        """Seal and upload one pack: here on a local disk, else in the background (at most two in flight)."""
        self._upload_slots.acquire()
        if self._sync_uploads:
            self._upload_pack(builder)
            return
        if self._upload_pool is None:
            with self._lock:
                if self._upload_pool is None:
                    self._upload_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="sitesnap-upload")
        assert self._upload_pool is not None
        fut = self._upload_pool.submit(self._upload_pack, builder)
        with self._lock:
            self._uploads.append(fut)

    def _upload_pack(self, builder: PackBuilder | FilePackBuilder) -> None:
        try:
            sealed_to = self.public_key if self.write_only is not None else None
            if isinstance(builder, FilePackBuilder):
                pack_id = builder.finish(self.aead, self.compressor, pack_name, public_key=sealed_to)
            else:
                raw = builder.finish(self.aead, self.compressor, public_key=sealed_to)
                pack_id = bytes.fromhex(storage_id(memoryview(raw)))
                self.storage.write(pack_name(pack_id), raw)
                del raw
            self.index.add_pack(pack_id, builder.entries)
            with self._lock:
                self._unindexed[pack_id] = builder.entries
                for e in builder.entries:
                    self._pending.discard((e.type, e.id))
                self.stats.packs_written += 1
        finally:
            self._upload_slots.release()

    def flush(self, *, write_index: bool = True) -> None:
        """Upload open packs, wait for all uploads, then write an index for them.

        After ``flush`` returns, every blob saved so far is durable and indexed.
        Raises the first upload error (after waiting for the others).
        """
        with self._lock:
            open_builders = [b for b in self._open.values() if len(b)]
            empty = [b for b in self._open.values() if not len(b)]
            self._open = {}
        for builder in empty:
            if isinstance(builder, FilePackBuilder):
                builder.abort()
        for builder in open_builders:
            self._submit_pack(builder)
        with self._lock:
            uploads, self._uploads = self._uploads, []
        error: BaseException | None = None
        for fut in uploads:
            exc = fut.exception()
            if exc is not None and error is None:
                error = exc
        if error is not None:
            raise error
        if write_index:
            with self._lock:
                unindexed, self._unindexed = self._unindexed, {}
            items = list(unindexed.items())
            for start in range(0, len(items), PACKS_PER_INDEX):
                self.write_index(IndexFile(dict(items[start : start + PACKS_PER_INDEX])))

    def read_pack_range(self, pack_id: bytes, offset: int, length: int) -> bytes:
        return self.storage.read(pack_name(pack_id), offset, length)

    def _locate(self, blob_type: int, blob_id: bytes) -> tuple[bytes, int, int, int]:
        loc = self.index.lookup(blob_type, blob_id)
        if loc is None:
            raise IntegrityError(f"{type_name(blob_type)} blob {blob_id.hex()[:16]} is not in the index")
        return loc

    def _read_range(self, pack_id: bytes, offset: int, length: int, what: str) -> bytes:
        try:
            raw = self.read_pack_range(pack_id, offset, length)
        except ObjectNotFound:
            raise IntegrityError(f"pack {pack_id.hex()[:16]} holding {what} is missing") from None
        if len(raw) != length:
            raise IntegrityError(f"pack {pack_id.hex()[:16]} is truncated")
        return raw

    def load_blob(self, blob_type: int, blob_id: bytes) -> bytes:
        self.require_read(f"reading {type_name(blob_type)} blobs")
        pack_id, offset, length, plain = self._locate(blob_type, blob_id)
        sealed = self._read_range(pack_id, offset, length, f"{type_name(blob_type)} blob {blob_id.hex()[:16]}")
        return decode_blob(self.master, self.aead, blob_type, blob_id, sealed, plain,
                           write_only=self.index.is_write_only(blob_type, blob_id))

    def load_blobs(self, blob_type: int, blob_ids: list[bytes]) -> Iterator[bytes]:
        """The blobs in order, each verified, reading nearby blobs of one pack in one request.

        A run of consecutive IDs stored close together in the same pack (the
        span read is at most twice the bytes needed, and at most
        ``READ_SPAN`` bytes) costs one ranged read: on S3 that is one GET
        instead of one per chunk.  Memory stays bounded by ``READ_SPAN``.
        """
        self.require_read(f"reading {type_name(blob_type)} blobs")
        run: list[tuple[bytes, int, int, int]] = []  # (id, offset, length, plain)
        run_pack = b""

        def flush() -> Iterator[bytes]:
            start = min(r[1] for r in run)
            end = max(r[1] + r[2] for r in run)
            raw = memoryview(self._read_range(run_pack, start, end - start, f"{len(run)} {type_name(blob_type)} blobs"))
            for blob_id, offset, length, plain in run:
                sealed = raw[offset - start : offset - start + length]
                yield decode_blob(self.master, self.aead, blob_type, blob_id, sealed, plain,
                                  write_only=self.index.is_write_only(blob_type, blob_id))

        for blob_id in blob_ids:
            pack_id, offset, length, plain = self._locate(blob_type, blob_id)
            if run:
                start = min(run[0][1], offset)
                end = max(max(r[1] + r[2] for r in run), offset + length)
                needed = sum(r[2] for r in run) + length
                if pack_id != run_pack or end - start > min(READ_SPAN, max(2 * needed, 1 << 20)):
                    yield from flush()
                    run = []
            run_pack = pack_id
            run.append((blob_id, offset, length, plain))
        if run:
            yield from flush()

    # --- trees ----------------------------------------------------------------------

    def save_tree(self, nodes: list[Node]) -> tuple[bytes, int]:
        return self.save_blob(TREE, encode_tree(nodes))

    def load_tree(self, tree_id: bytes) -> list[Node]:
        return decode_tree(self._load_tree_blob(tree_id), f"tree {tree_id.hex()[:16]}")

    def _load_tree_blob(self, tree_id: bytes) -> bytes:
        """A tree blob; from the second tree read in a pack on, the whole pack is read once and kept.

        A backup with a parent and every walk of a snapshot (ls, restore, diff)
        read thousands of small trees that sit together in a few tree packs.
        One read of the pack instead of one per tree saves the opens and seeks
        on a disk and the requests on S3; one pack (at most about 20 MiB) is
        kept at a time.
        """
        self.require_read("reading tree blobs")
        pack_id, offset, length, plain = self._locate(TREE, tree_id)
        what = f"tree blob {tree_id.hex()[:16]}"
        with self._lock:
            pack = self._tree_pack if self._tree_pack_id == pack_id else None
            whole = pack is None and self._tree_pack_misses.get(pack_id, 0) >= 1
            self._tree_pack_misses[pack_id] = self._tree_pack_misses.get(pack_id, 0) + 1
        if pack is None and whole:
            try:
                pack = self.storage.read(pack_name(pack_id))
            except ObjectNotFound:
                raise IntegrityError(f"pack {pack_id.hex()[:16]} holding {what} is missing") from None
            with self._lock:
                self._tree_pack_id, self._tree_pack = pack_id, pack
        if pack is not None:
            if offset + length > len(pack):
                raise IntegrityError(f"pack {pack_id.hex()[:16]} is truncated")
            sealed: bytes | memoryview = memoryview(pack)[offset : offset + length]
        else:
            sealed = self._read_range(pack_id, offset, length, what)
        return decode_blob(self.master, self.aead, TREE, tree_id, sealed, plain,
                           write_only=self.index.is_write_only(TREE, tree_id))

    # --- snapshots ------------------------------------------------------------------

    def save_snapshot(self, snap: Snapshot) -> str:
        snap.program_version = snap.program_version or __version__
        payload = encode_json(snap.to_json())
        if self.write_only is not None:
            raw = seal_envelope_public(self.public_key, self.compressor, KIND_SNAPSHOT, payload)
        else:
            raw = seal_envelope(self.aead, self.compressor, KIND_SNAPSHOT, payload)
        snap.id = storage_id(raw)
        self.storage.write(SNAPSHOTS_PREFIX + snap.id, raw)
        return snap.id

    def snapshot_ids(self) -> list[str]:
        return self.list_ids(SNAPSHOTS_PREFIX)

    def load_snapshot(self, snapshot_id: str) -> Snapshot:
        self.require_read("reading snapshots")
        what = f"snapshot {snapshot_id[:8]}"
        try:
            raw = self.storage.read(SNAPSHOTS_PREFIX + snapshot_id)
        except ObjectNotFound:
            raise SnapshotNotFound(snapshot_id) from None
        if storage_id(raw) != snapshot_id:
            raise IntegrityError(f"{what} does not match its name (damaged)")
        data = decode_json(open_envelope(self.aead, raw, KIND_SNAPSHOT, what, private_key=self.private_key), what)
        return Snapshot.from_json(data, snapshot_id)

    def load_snapshots(self, *, on_error: Callable[[str, Exception], None] | None = None) -> list[Snapshot]:
        """All snapshots, oldest first.  Damaged ones raise unless ``on_error`` is given."""
        self.require_read("reading snapshots")
        ids = self.snapshot_ids()

        def fetch(sid: str) -> Snapshot | Exception:
            try:
                return self.load_snapshot(sid)
            except IntegrityError as exc:
                return exc

        out: list[Snapshot] = []
        with ThreadPoolExecutor(max_workers=8) as pool:
            for sid, res in zip(ids, pool.map(fetch, ids), strict=True):
                if isinstance(res, Exception):
                    if on_error is None:
                        raise res
                    on_error(sid, res)
                else:
                    out.append(res)
        out.sort(key=lambda s: (s.time, s.id))
        return out

    def find_snapshot(self, ref: str, snapshots: list[Snapshot] | None = None) -> Snapshot:
        """Resolve ``latest``, a full ID or a unique prefix (at least 4 hex digits)."""
        self.require_read("reading snapshots")
        if ref == "latest":
            snaps = snapshots if snapshots is not None else self.load_snapshots()
            if not snaps:
                raise SnapshotNotFound("latest", hint="The repository has no snapshots yet.")
            return snaps[-1]
        if len(ref) < 4:
            raise UsageError(f"snapshot ID {ref!r} is too short; give at least 4 hex digits")
        matches = [s for s in self.snapshot_ids() if s.startswith(ref.lower())]
        if not matches:
            raise SnapshotNotFound(ref)
        if len(matches) > 1:
            raise UsageError(f"snapshot ID prefix {ref!r} is ambiguous ({len(matches)} matches)")
        return self.load_snapshot(matches[0])

    def delete_snapshot(self, snapshot_id: str) -> None:
        self.require_read("deleting snapshots")
        self.storage.delete(SNAPSHOTS_PREFIX + snapshot_id)

    # --- locks ----------------------------------------------------------------------

    def _write_lock(self, lock_id: str, info: LockInfo) -> None:
        payload = encode_json(info.to_json())
        if self.shared_index:
            raw = seal_envelope_shared(self.index_aead, self.compressor, KIND_LOCK, payload)
        else:
            raw = seal_envelope(self.aead, self.compressor, KIND_LOCK, payload)
        self.storage.write(LOCKS_PREFIX + lock_id, raw, exclusive=True)

    def _delete_lock(self, lock_id: str) -> None:
        self.storage.delete(LOCKS_PREFIX + lock_id)

    def list_locks(self) -> tuple[list[LockInfo], list[str]]:
        """(readable locks, IDs of unreadable lock objects).

        On a write-only host, locks written with the master key are neither:
        they are kept in ``foreign_locks`` and block it (see :meth:`lock`).
        """
        locks: list[LockInfo] = []
        broken: list[str] = []
        self.foreign_locks = []
        for lock_id in self.list_ids(LOCKS_PREFIX):
            try:
                raw = self.storage.read(LOCKS_PREFIX + lock_id)
                what = f"lock {lock_id[:8]}"
                plain = open_envelope(self._v1_aead, raw, KIND_LOCK, what, index_aead=self.index_aead)
                locks.append(parse_lock(lock_id, decode_json(plain, what)))
            except ObjectNotFound:
                continue
            except WriteOnlyError:
                self.foreign_locks.append(lock_id)
            except IntegrityError:
                broken.append(lock_id)
        return locks, broken

    def remove_stale_locks(self, *, all_locks: bool = False) -> list[LockInfo]:
        locks, broken = self.list_locks()
        removed = [lk for lk in locks if all_locks or lk.is_stale()]
        for lk in removed:
            self._delete_lock(lk.id)
        for lock_id in broken:
            self._delete_lock(lock_id)
        return removed

    def _refuse_foreign_locks(self) -> None:
        """A write-only host cannot tell what a master-key lock guards: it could be a prune, so wait."""
        if self.foreign_locks:
            raise RepositoryLocked(
                f"{len(self.foreign_locks)} lock(s) written with the master key, which this write-only key cannot read",
                hint="Wait for the password holder's operation to finish, or run 'sitesnap unlock' with the password.",
            )

    @contextmanager
    def lock(self, *, exclusive: bool = False, operation: str = "") -> Iterator[RepoLock]:
        """Hold a shared or exclusive lock for the duration of the block.

        Locks left by dead processes on this host are removed on the way in;
        live or foreign conflicting locks raise RepositoryLocked.
        """
        held = RepoLock(self._write_lock, self._delete_lock, exclusive, operation)
        locks, _ = self.list_locks()
        self._refuse_foreign_locks()
        for stale in [lk for lk in locks if lk.is_stale() and lk.hostname == held.info.hostname]:
            self._delete_lock(stale.id)
        raise_conflict(conflicts(held.info, locks))
        try:
            self._write_lock(held.info.id, held.info)
        except BaseException:
            # The write may have landed with only its reply lost: do not leave the lock behind.
            with suppress(Exception):
                self._delete_lock(held.info.id)
            raise
        try:
            # Two processes may have written at the same moment: look again.
            locks, _ = self.list_locks()
            raise_conflict(conflicts(held.info, locks))
            self._refuse_foreign_locks()
        except BaseException:
            held.release()
            raise
        held.start_refresh()
        try:
            yield held
        finally:
            held.release()
