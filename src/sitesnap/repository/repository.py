"""The repository: the one object callers hold, composed of parts that each own one verb.

- layout and ``config``: :mod:`sitesnap.repository.config`; opening it with a
  password or a write-only key: :mod:`sitesnap.repository.unlock`;
- the sealer (:mod:`sitesnap.repository.sealer`), chosen once when the
  repository opens: a password holder's or a write-only host's keys;
- the packer (:mod:`sitesnap.repository.packer`): blobs into packs, packs and
  index files into storage, in the crash-safe write order of
  docs/format/v1.md section 11;
- index files (:mod:`sitesnap.repository.indexfiles`) and the in-memory
  :class:`MasterIndex`;
- the reader (:mod:`sitesnap.repository.reader`): blobs out of packs, verified;
- snapshots (:mod:`sitesnap.repository.snapshots`) and locks
  (:mod:`sitesnap.repository.lock`).

Write-only mode (:meth:`Repository.open_write_only`, docs/format/v1.md
section 13): opened with a write-only key instead of a password, the
repository seals new blobs, pack headers and snapshots to the public key,
reads and writes version 2 index files and locks, and refuses every read of
data or snapshots with WriteOnlyError.

Thread-safety: ``save_blob`` and ``load_blob`` may be called from many threads.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

from sitesnap.errors import ObjectExists, ObjectNotFound, RepositoryExists
from sitesnap.format.blob import TREE
from sitesnap.format.chunker import ChunkerParams
from sitesnap.format.compress import Compressor
from sitesnap.format.crypto import Aead, MasterKey, PrivateKey, aead_for
from sitesnap.format.envelope import KIND_CONFIG, encode_json, seal_envelope
from sitesnap.format.index import IndexFile
from sitesnap.format.pack import PackEntry
from sitesnap.format.snapshot import Snapshot
from sitesnap.format.tree import Node, decode_tree, encode_tree
from sitesnap.repository import keys as keyfiles
from sitesnap.repository import unlock, writeonly
from sitesnap.repository.config import (
    CONFIG_NAME,
    DATA_PREFIX,
    DUMP_COMPRESSION,
    INDEX_PREFIX,
    KEY_GENERATIONS_FORMAT,
    PACK_TARGET,
    PACKS_PER_INDEX,
    READABLE_FORMATS,
    SNAPSHOTS_PREFIX,
    RepoConfig,
    list_ids,
    new_config,
    pack_name,
    require_format,
)
from sitesnap.repository.indexfiles import IndexFiles
from sitesnap.repository.lock import LockInfo, LockStore, RepoLock
from sitesnap.repository.masterindex import Location, MasterIndex
from sitesnap.repository.packer import Packer, WriteStats
from sitesnap.repository.reader import BlobReader
from sitesnap.repository.sealer import PasswordSealer, Sealer, WriteOnlySealer
from sitesnap.repository.snapshots import SnapshotStore
from sitesnap.storage.base import Storage

__all__ = [
    "CONFIG_NAME",
    "DATA_PREFIX",
    "DUMP_COMPRESSION",
    "INDEX_PREFIX",
    "KEY_GENERATIONS_FORMAT",
    "PACKS_PER_INDEX",
    "PACK_TARGET",
    "READABLE_FORMATS",
    "SNAPSHOTS_PREFIX",
    "RepoConfig",
    "Repository",
    "WriteStats",
    "pack_name",
    "require_format",
]


class Repository:
    """An open, unlocked repository.  Create with :meth:`init`, :meth:`open` or :meth:`open_write_only`."""

    def __init__(self, storage: Storage, sealer: Sealer, config: RepoConfig, key_id: str) -> None:
        self.storage = storage
        self.config = config
        self.key_id = key_id
        self.compressor = Compressor(config.compression)
        self.stream_compressor = Compressor(config.stream_compression)
        self._sealer = sealer
        self._index = MasterIndex()
        self.index_files = IndexFiles(storage, sealer, self.compressor, self._index)
        self.packer = Packer(storage, sealer, self.index_files, self.compressor, self.stream_compressor)
        self.reader = BlobReader(storage, sealer, self._index)
        self.snapshots = SnapshotStore(storage, sealer, self.compressor)
        self.locks = LockStore(storage, sealer, self.compressor)

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
        config = new_config(chunker, compression, dump_chunker)
        key_id = keyfiles.add_key(storage, master, password, kdf=kdf, label="initial")
        repo = cls(storage, PasswordSealer(master), config, key_id)
        # The config is written last: a repository without config is not a repository yet.
        raw = seal_envelope(repo.aead, repo.compressor, KIND_CONFIG, encode_json(config.to_json()))
        try:
            storage.write(CONFIG_NAME, raw, exclusive=True)
        except ObjectExists:
            raise RepositoryExists(location=location) from None
        return repo

    @classmethod
    def open(cls, storage: Storage, password: str) -> Repository:
        """Unlock with ``password``: the first key slot whose master key opens ``config`` wins.

        If only slots wrapping retired master keys open, RetiredKey.  In
        format 2 the older key generations come from the keyring.
        """
        master, key_id, config = unlock.unlock_config(storage, password)
        sealer = PasswordSealer(master, shared_index=writeonly.has_markers(storage))
        return cls(storage, sealer, config, key_id)

    @classmethod
    def open_write_only(cls, storage: Storage, key: writeonly.WriteOnlyKey) -> Repository:
        """Open for adding snapshots only, with a write-only key (no password, no master key).

        Refuses (UsageError) a repository with no write-only marker for the
        key's public key: the key belongs to another repository, or was retired.
        """
        return cls(storage, WriteOnlySealer(key), unlock.check_write_only_key(storage, key), "")

    @classmethod
    def import_key_file(cls, storage: Storage, raw: bytes, password: str) -> str:
        """Restore an exported key file into ``keys/``; returns its key id (see :func:`unlock.import_key_file`)."""
        return unlock.import_key_file(storage, raw, password)

    def adopt_master(self, master: MasterKey, config: RepoConfig, key_id: str) -> None:
        """Use ``master`` (with the older generations it carries) from now on; ``key rotate`` calls this."""
        self.config = config
        self.key_id = key_id
        self.sealer = PasswordSealer(master, shared_index=self.shared_index)

    # --- the parts' shared state ----------------------------------------------------

    @property
    def sealer(self) -> Sealer:
        return self._sealer

    @sealer.setter
    def sealer(self, sealer: Sealer) -> None:
        self._sealer = sealer
        for part in (self.index_files, self.packer, self.reader, self.snapshots, self.locks):
            part.sealer = sealer

    @property
    def index(self) -> MasterIndex:
        return self._index

    @index.setter
    def index(self, index: MasterIndex) -> None:
        """Replace the in-memory index (prune does, after rewriting the index files)."""
        self._index = index
        self.index_files.index = self.packer.index = self.reader.index = index

    @property
    def shared_index(self) -> bool:
        return self._sealer.shared_index

    @shared_index.setter
    def shared_index(self, shared: bool) -> None:
        self._sealer.shared_index = shared

    @property
    def pack_target(self) -> int:
        return self.packer.pack_target

    @pack_target.setter
    def pack_target(self, size: int) -> None:
        self.packer.pack_target = size

    @property
    def stats(self) -> WriteStats:
        return self.packer.stats

    @property
    def unreadable_indexes(self) -> list[str]:
        return self.index_files.unreadable_indexes

    @property
    def foreign_locks(self) -> list[str]:
        return self.locks.foreign_locks

    # --- keys -----------------------------------------------------------------------

    @property
    def write_only(self) -> writeonly.WriteOnlyKey | None:
        """The write-only key the repository was opened with; None when opened with a password."""
        return self._sealer.write_only

    @property
    def master(self) -> MasterKey:
        """The master key; WriteOnlyError on a write-only host, which has none."""
        return self._sealer.master

    @property
    def aead(self) -> Aead:
        return self._sealer.aead

    @property
    def index_aead(self) -> Aead:
        return self._sealer.index_aead

    @property
    def public_key(self) -> bytes:
        return self._sealer.public_key

    @property
    def private_key(self) -> PrivateKey | None:
        return self._sealer.private_key

    def require_read(self, what: str) -> None:
        """Raise WriteOnlyError when opened with a write-only key."""
        self._sealer.require_read(what)

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
        with self.lock(exclusive=True, operation="write-only export"):
            writeonly.write_marker(self.storage, key.public_key, label)
            self.shared_index = True
            self.index_files.reseal_for_hosts(aead_for(key.index_key))
        return key

    def close(self) -> None:
        self.packer.close()
        self.storage.close()

    def __enter__(self) -> Repository:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- index ----------------------------------------------------------------------

    def list_ids(self, prefix: str) -> list[str]:
        return list_ids(self.storage, prefix)

    def load_index(self, *, strict: bool = True) -> list[str]:
        """Load every index file (in parallel).  Returns IDs of damaged ones when not strict."""
        return self.index_files.load(strict=strict)

    def read_index(self, index_id: str) -> IndexFile:
        return self.index_files.read(index_id)

    def write_index(self, index: IndexFile) -> str:
        return self.index_files.write(index)

    # --- blobs ----------------------------------------------------------------------

    def blob_location(self, blob_type: int, blob_id: bytes) -> Location | None:
        return self._index.lookup(blob_type, blob_id)

    def content_id(self, data: bytes | memoryview) -> bytes:
        return self._sealer.content_id(data)

    def has_blob(self, blob_type: int, blob_id: bytes) -> bool:
        return self.packer.has_blob(blob_type, blob_id)

    def save_blob(
        self, blob_type: int, data: bytes | memoryview, blob_id: bytes | None = None, *, dump: bool = False
    ) -> tuple[bytes, int]:
        """Store ``data`` unless present; returns (id, bytes added to the repository).

        ``dump``: a chunk of a database dump, compressed at the dump level.
        """
        return self.packer.save_blob(blob_type, data, blob_id, dump=dump)

    def flush(self, *, write_index: bool = True) -> None:
        """Upload open packs, wait for all uploads, then write an index for them (see :meth:`Packer.flush`)."""
        self.packer.flush(write_index=write_index)

    def read_pack_range(self, pack_id: bytes, offset: int, length: int) -> bytes:
        return self.reader.read_pack_range(pack_id, offset, length)

    def decode_pack_header(self, sealed: bytes, header_offset: int, what: str) -> list[PackEntry]:
        """A pack's entries from its sealed header, written by a password holder or a write-only host."""
        return self.reader.decode_pack_header(sealed, header_offset, what)

    def load_blob(self, blob_type: int, blob_id: bytes) -> bytes:
        return self.reader.load_blob(blob_type, blob_id)

    def load_blobs(self, blob_type: int, blob_ids: list[bytes]) -> Iterator[bytes]:
        """The blobs in order, each verified, nearby blobs of one pack in one request."""
        return self.reader.load_blobs(blob_type, blob_ids)

    # --- trees ----------------------------------------------------------------------

    def save_tree(self, nodes: list[Node]) -> tuple[bytes, int]:
        return self.save_blob(TREE, encode_tree(nodes))

    def load_tree(self, tree_id: bytes) -> list[Node]:
        return decode_tree(self.reader.load_tree_blob(tree_id), f"tree {tree_id.hex()[:16]}")

    # --- snapshots ------------------------------------------------------------------

    def save_snapshot(self, snap: Snapshot) -> str:
        return self.snapshots.save(snap)

    def snapshot_ids(self) -> list[str]:
        return self.snapshots.ids()

    def load_snapshot(self, snapshot_id: str) -> Snapshot:
        return self.snapshots.load(snapshot_id)

    def load_snapshots(self, *, on_error: Callable[[str, Exception], None] | None = None) -> list[Snapshot]:
        """All snapshots, oldest first.  Damaged ones raise unless ``on_error`` is given."""
        return self.snapshots.load_all(on_error=on_error)

    def find_snapshot(self, ref: str, snapshots: list[Snapshot] | None = None) -> Snapshot:
        """Resolve ``latest``, a full ID or a unique prefix (at least 4 hex digits)."""
        return self.snapshots.find(ref, snapshots)

    def delete_snapshot(self, snapshot_id: str) -> None:
        self.snapshots.delete(snapshot_id)

    # --- locks ----------------------------------------------------------------------

    def list_locks(self) -> tuple[list[LockInfo], list[str]]:
        """(readable locks, IDs of unreadable lock objects); see :class:`LockStore`."""
        return self.locks.list_locks()

    def remove_stale_locks(self, *, all_locks: bool = False) -> list[LockInfo]:
        return self.locks.remove_stale(all_locks=all_locks)

    def lock(self, *, exclusive: bool = False, operation: str = "") -> AbstractContextManager[RepoLock]:
        """Hold a shared or exclusive lock for the duration of the block (see :meth:`LockStore.lock`)."""
        return self.locks.lock(exclusive=exclusive, operation=operation)
