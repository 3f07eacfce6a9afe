"""The reader: blobs out of packs, located through the master index and verified on the way.

Every blob read is authenticated, decompressed and checked against its ID by
the sealer (a write-only host's sealer refuses).  Nearby blobs of one pack
are fetched in one ranged read (:meth:`BlobReader.load_blobs`), and tree
packs are kept whole once a second tree is read from them
(:meth:`BlobReader.load_tree_blob`).  Thread-safe.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

from sitesnap.errors import IntegrityError, ObjectNotFound
from sitesnap.format.blob import TREE, type_name
from sitesnap.format.pack import PackEntry
from sitesnap.repository.config import READ_SPAN, pack_name
from sitesnap.repository.masterindex import Location, MasterIndex
from sitesnap.repository.sealer import Sealer
from sitesnap.storage.base import Storage

__all__ = ["BlobReader"]

_Run = list[tuple[bytes, int, int, int]]  # (blob id, offset, length, plain size) in one pack


class BlobReader:
    """Loads and verifies blobs, and reads raw pack ranges and headers."""

    def __init__(self, storage: Storage, sealer: Sealer, index: MasterIndex) -> None:
        self.storage = storage
        self.sealer = sealer
        self.index = index
        self._lock = threading.Lock()
        self._tree_pack_id = b""  # the tree pack kept by load_tree_blob
        self._tree_pack = b""
        self._tree_pack_misses: dict[bytes, int] = {}

    def read_pack_range(self, pack_id: bytes, offset: int, length: int) -> bytes:
        return self.storage.read(pack_name(pack_id), offset, length)

    def decode_pack_header(self, sealed: bytes, header_offset: int, what: str) -> list[PackEntry]:
        """A pack's entries from its sealed header, written by a password holder or a write-only host."""
        self.sealer.require_read(f"reading {what}")
        return self.sealer.open_pack_header(sealed, header_offset, what)

    def locate(self, blob_type: int, blob_id: bytes) -> Location:
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

    def _open(self, blob_type: int, blob_id: bytes, sealed: bytes | memoryview, plain: int) -> bytes:
        return self.sealer.open_blob(blob_type, blob_id, sealed, plain,
                                     write_only=self.index.is_write_only(blob_type, blob_id))

    def load_blob(self, blob_type: int, blob_id: bytes) -> bytes:
        self.sealer.require_read(f"reading {type_name(blob_type)} blobs")
        pack_id, offset, length, plain = self.locate(blob_type, blob_id)
        sealed = self._read_range(pack_id, offset, length, f"{type_name(blob_type)} blob {blob_id.hex()[:16]}")
        return self._open(blob_type, blob_id, sealed, plain)

    def load_blobs(self, blob_type: int, blob_ids: list[bytes]) -> Iterator[bytes]:
        """The blobs in order, each verified, reading nearby blobs of one pack in one request.

        A run of consecutive IDs stored close together in the same pack (the
        span read is at most twice the bytes needed, and at most
        ``READ_SPAN`` bytes) costs one ranged read: on S3 that is one GET
        instead of one per chunk.  Memory stays bounded by ``READ_SPAN``.
        """
        self.sealer.require_read(f"reading {type_name(blob_type)} blobs")
        run: _Run = []
        run_pack = b""
        for blob_id in blob_ids:
            pack_id, offset, length, plain = self.locate(blob_type, blob_id)
            if run:
                start = min(run[0][1], offset)
                end = max(max(r[1] + r[2] for r in run), offset + length)
                needed = sum(r[2] for r in run) + length
                if pack_id != run_pack or end - start > min(READ_SPAN, max(2 * needed, 1 << 20)):
                    yield from self._load_run(blob_type, run_pack, run)
                    run = []
            run_pack = pack_id
            run.append((blob_id, offset, length, plain))
        if run:
            yield from self._load_run(blob_type, run_pack, run)

    def _load_run(self, blob_type: int, pack_id: bytes, run: _Run) -> Iterator[bytes]:
        """The blobs of ``run`` from one ranged read of ``pack_id``."""
        start = min(r[1] for r in run)
        end = max(r[1] + r[2] for r in run)
        raw = memoryview(self._read_range(pack_id, start, end - start, f"{len(run)} {type_name(blob_type)} blobs"))
        for blob_id, offset, length, plain in run:
            yield self._open(blob_type, blob_id, raw[offset - start : offset - start + length], plain)

    def load_tree_blob(self, tree_id: bytes) -> bytes:
        """A tree blob; from the second tree read in a pack on, the whole pack is read once and kept.

        A backup with a parent and every walk of a snapshot (ls, restore, diff)
        read thousands of small trees that sit together in a few tree packs.
        One read of the pack instead of one per tree saves the opens and seeks
        on a disk and the requests on S3; one pack (at most about 20 MiB) is
        kept at a time.
        """
        self.sealer.require_read("reading tree blobs")
        pack_id, offset, length, plain = self.locate(TREE, tree_id)
        what = f"tree blob {tree_id.hex()[:16]}"
        pack = self._tree_pack_for(pack_id, what)
        if pack is not None:
            if offset + length > len(pack):
                raise IntegrityError(f"pack {pack_id.hex()[:16]} is truncated")
            sealed: bytes | memoryview = memoryview(pack)[offset : offset + length]
        else:
            sealed = self._read_range(pack_id, offset, length, what)
        return self._open(TREE, tree_id, sealed, plain)

    def _tree_pack_for(self, pack_id: bytes, what: str) -> bytes | None:
        """The whole tree pack if it is kept or now worth keeping (its second tree read), else None."""
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
        return pack
