"""Index files under ``index/``: reading them into the master index, writing new ones.

An index file names packs and the blobs in them (docs/format/v1.md section
8).  Reading is parallel; a file the sealer cannot open because a password
holder wrote it before write-only mode existed is listed in
``unreadable_indexes`` (a write-only host simply does not deduplicate
against it).  Thread-safe for concurrent :meth:`IndexFiles.write` calls.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sitesnap.errors import IntegrityError, ObjectNotFound, WriteOnlyError
from sitesnap.format.compress import Compressor
from sitesnap.format.crypto import Aead, storage_id
from sitesnap.format.envelope import FORMAT_VERSION, KIND_INDEX, open_envelope, peek_header
from sitesnap.format.index import IndexFile, decode_index, encode_index
from sitesnap.repository.config import INDEX_PREFIX, list_ids
from sitesnap.repository.masterindex import MasterIndex
from sitesnap.repository.sealer import Sealer
from sitesnap.storage.base import Storage

__all__ = ["IndexFiles"]


class IndexFiles:
    """The ``index/`` objects of one repository, read into and written from ``index``."""

    def __init__(self, storage: Storage, sealer: Sealer, compressor: Compressor, index: MasterIndex) -> None:
        self.storage = storage
        self.sealer = sealer
        self.compressor = compressor
        self.index = index
        self.unreadable_indexes: list[str] = []

    def load(self, *, strict: bool = True) -> list[str]:
        """Load every index file (in parallel).  Returns IDs of damaged ones when not strict."""
        ids = list_ids(self.storage, INDEX_PREFIX)
        damaged: list[str] = []

        def fetch(index_id: str) -> tuple[str, IndexFile | None, Exception | None]:
            try:
                return index_id, self.read(index_id), None
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
        return damaged

    def read(self, index_id: str) -> IndexFile:
        raw = self.storage.read(INDEX_PREFIX + index_id)
        what = f"index {index_id[:8]}"
        if storage_id(raw) != index_id:
            raise IntegrityError(f"{what} does not match its name (damaged)")
        return decode_index(self.sealer.open_shared(raw, KIND_INDEX, what), what)

    def write(self, index: IndexFile) -> str:
        """Write one index file; one naming write-only blobs is always readable by write-only hosts."""
        raw = self.sealer.seal_shared(self.compressor, KIND_INDEX, encode_index(index),
                                      host_readable=index.has_write_only())
        index_id = storage_id(raw)
        self.storage.write(INDEX_PREFIX + index_id, raw)
        self.index.index_ids.add(index_id)
        return index_id

    def reseal_for_hosts(self, host_readable: Aead) -> None:
        """Rewrite every index file ``host_readable`` (the index key) does not open with the sealer's keys.

        The new file is written before the old one is deleted, as ``prune`` does.
        """
        for index_id in list_ids(self.storage, INDEX_PREFIX):
            raw = self.storage.read(INDEX_PREFIX + index_id)
            what = f"index {index_id[:8]}"
            if peek_header(raw, what)[1] != FORMAT_VERSION and _opens_index(host_readable, raw, what):
                continue
            old = self.read(index_id)
            self.write(IndexFile(old.packs, [bytes.fromhex(index_id)]))
            self.storage.delete(INDEX_PREFIX + index_id)
            self.index.index_ids.discard(index_id)


def _opens_index(index_aead: Aead, raw: bytes, what: str) -> bool:
    try:
        open_envelope(None, raw, KIND_INDEX, what, index_aead=index_aead)
    except IntegrityError:
        return False
    return True
