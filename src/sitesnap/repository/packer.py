"""The packer: blobs into packs, packs into storage, and an index for them (docs/format/v1.md section 11).

Crash safety comes from write order: a pack is written completely (atomic
``write``) before an index names it, and an index before a snapshot
references its blobs.  A crash at any point leaves, at worst, packs or
indexes nothing references; ``prune`` removes them.

Thread-safety: :meth:`Packer.save_blob` may be called from many threads;
encoding (compress + encrypt) runs in the caller's thread, only the append
to the open pack is serialized.  A local disk takes packs as files filled
blob by blob (repository/packfile.py): no pack in memory, one being finished
in the background.  Network backends get packs built in memory with two in
flight to hide latency; the memory backend writes them in place.

Checkpoints (as restic, Borg and Kopia have them): every
``checkpoint_interval`` seconds the packs uploaded so far get an index file,
and :meth:`Packer.stop` writes one for them when a backup is interrupted, so
the next backup finds their blobs in the index and does not upload them
again.  Uploads run in daemon threads: an interrupted backup waits a short
grace period for them and then exits; an upload cut off by the exit leaves at
worst a pack nothing references, which ``prune`` removes.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field

from sitesnap.format.compress import Compressor
from sitesnap.format.crypto import storage_id
from sitesnap.format.index import IndexFile
from sitesnap.format.pack import PackBuilder, PackEntry
from sitesnap.repository.config import DATA_PREFIX, PACK_TARGET, PACKS_PER_INDEX, pack_name
from sitesnap.repository.indexfiles import IndexFiles
from sitesnap.repository.masterindex import MasterIndex
from sitesnap.repository.packfile import FilePackBuilder
from sitesnap.repository.sealer import Sealer
from sitesnap.storage.base import Storage

__all__ = ["CHECKPOINT_INTERVAL", "Packer", "Stopped", "WriteStats"]

Builder = PackBuilder | FilePackBuilder

CHECKPOINT_INTERVAL = 300.0
"""Seconds between index checkpoints of a running backup (default 5 minutes)."""


class Stopped(Exception):
    """Raised in a writer thread once :meth:`Packer.stop` was called: the run is being abandoned."""


@dataclass
class WriteStats:
    blobs_new: int = 0
    bytes_new_plain: int = 0
    bytes_new_stored: int = 0
    packs_written: int = 0
    extra: dict[str, int] = field(default_factory=dict)


class Packer:
    """Open packs per blob type, their uploads, and the packs not yet named by an index file."""

    def __init__(self, storage: Storage, sealer: Sealer, index_files: IndexFiles,
                 compressor: Compressor, stream_compressor: Compressor) -> None:
        self.storage = storage
        self.sealer = sealer
        self.index_files = index_files
        self.index: MasterIndex = index_files.index
        self.compressor = compressor
        self.stream_compressor = stream_compressor
        self.stats = WriteStats()
        self.pack_target = PACK_TARGET
        self._lock = threading.Lock()
        self._pending: set[tuple[int, bytes]] = set()
        self._open: dict[int, Builder] = {}  # made on first use
        self._unindexed: dict[bytes, list[PackEntry]] = {}
        self._uploads: list[Future[None]] = []
        self._stopping = threading.Event()
        self.checkpoint_interval = CHECKPOINT_INTERVAL
        self._last_checkpoint = time.monotonic()
        self._index_lock = threading.Lock()
        self._append_packs = callable(getattr(storage, "open_append", None))
        self._sync_uploads = storage.properties.kind == "memory" and not self._append_packs
        self._upload_slots = threading.BoundedSemaphore(1 if self._sync_uploads else 2)

    def has_blob(self, blob_type: int, blob_id: bytes) -> bool:
        return self.index.has(blob_type, blob_id) or (blob_type, blob_id) in self._pending

    def save_blob(
        self, blob_type: int, data: bytes | memoryview, blob_id: bytes | None = None, *, dump: bool = False
    ) -> tuple[bytes, int]:
        """Store ``data`` unless present; returns (id, bytes added to the repository).

        ``dump``: a chunk of a database dump, compressed at the dump level.
        """
        if blob_id is None:
            blob_id = self.sealer.content_id(data)
        key = (blob_type, blob_id)
        with self._lock:
            if self.index.has(blob_type, blob_id) or key in self._pending:
                return blob_id, 0
            self._pending.add(key)
        encoded = self.sealer.seal_blob(self.stream_compressor if dump else self.compressor, blob_type, data, blob_id)
        finished: Builder | None = None
        with self._lock:
            builder = self._open.get(blob_type) or self._new_builder(blob_type)
            entry = builder.add(blob_type, blob_id, encoded.sealed, encoded.plain_size,
                                write_only=self.sealer.pack_public_key is not None)
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

    def _new_builder(self, blob_type: int) -> Builder:
        """The open pack for ``blob_type`` (caller holds the lock): a temp file on a local disk."""
        append = self._append_packs
        builder = FilePackBuilder(self.storage.open_append(DATA_PREFIX)) if append else PackBuilder()  # type: ignore[attr-defined]
        self._open[blob_type] = builder
        return builder

    def _submit_pack(self, builder: Builder) -> None:
        """Seal and upload one pack: here on a memory backend, else in a daemon thread (at most two in flight).

        Raises :class:`Stopped` (and drops the pack) once :meth:`stop` was called.
        """
        while not self._upload_slots.acquire(timeout=0.1):
            if self._stopping.is_set():
                break
        if self._stopping.is_set():
            if isinstance(builder, FilePackBuilder):
                builder.abort()
            raise Stopped()
        if self._sync_uploads:
            self._upload_pack(builder)
            return
        fut: Future[None] = Future()

        def run() -> None:
            try:
                self._upload_pack(builder)
                fut.set_result(None)
            except BaseException as exc:
                fut.set_exception(exc)

        with self._lock:
            self._uploads.append(fut)
        threading.Thread(target=run, name="sitesnap-upload", daemon=True).start()

    def _upload_pack(self, builder: Builder) -> None:
        try:
            sealer = self.sealer
            if isinstance(builder, FilePackBuilder):
                pack_id = builder.finish(sealer.aead, self.compressor, pack_name, public_key=sealer.pack_public_key)
            else:
                raw = builder.finish(sealer.aead, self.compressor, public_key=sealer.pack_public_key)
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
        if time.monotonic() - self._last_checkpoint >= self.checkpoint_interval:
            self.checkpoint()

    def checkpoint(self) -> int:
        """Write an index file for the packs uploaded so far; returns how many it names.

        Open packs stay open and uploads in flight carry on.  Thread-safe;
        the blobs named become visible to the next backup's deduplication.
        """
        with self._index_lock:
            with self._lock:
                unindexed, self._unindexed = self._unindexed, {}
                self._last_checkpoint = time.monotonic()
            items = list(unindexed.items())
            for start in range(0, len(items), PACKS_PER_INDEX):
                self.index_files.write(IndexFile(dict(items[start : start + PACKS_PER_INDEX])))
            return len(items)

    def stop(self, grace: float = 1.0) -> int:
        """Abandon the run: drop open packs, wait up to ``grace`` seconds for uploads, index what arrived.

        Writers blocked on an upload slot raise :class:`Stopped`.  Returns
        the number of packs the final checkpoint names; uploads still running
        after ``grace`` are left to the exit (their packs stay unreferenced).
        """
        self._stopping.set()
        with self._lock:
            abandoned, self._open = list(self._open.values()), {}
            uploads = list(self._uploads)
        for builder in abandoned:
            if isinstance(builder, FilePackBuilder):
                builder.abort()
        deadline = time.monotonic() + grace
        for fut in uploads:
            try:
                fut.exception(timeout=max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                break
        return self.checkpoint()

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
        self._wait_for_uploads()
        if write_index:
            self.checkpoint()

    def _wait_for_uploads(self) -> None:
        with self._lock:
            uploads, self._uploads = self._uploads, []
        error: BaseException | None = None
        for fut in uploads:
            exc = fut.exception()
            if exc is not None and error is None:
                error = exc
        if error is not None:
            raise error

    def close(self) -> None:
        """Drop the packs of a run that failed before ``flush`` (their temp files go); wait for uploads.

        After :meth:`stop` uploads are not waited for again.
        """
        with self._lock:
            abandoned, self._open = list(self._open.values()), {}
            uploads = [] if self._stopping.is_set() else list(self._uploads)
        for builder in abandoned:
            if isinstance(builder, FilePackBuilder):
                builder.abort()
        for fut in uploads:
            fut.exception()
