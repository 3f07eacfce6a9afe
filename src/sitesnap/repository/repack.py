"""Carrying out a prune plan, in the crash-safe order of docs/format/v1.md section 11.

1. used blobs of repacked packs are copied (verified, still sealed) into new
   packs; a blob sealed with an older master key generation is re-sealed
   with the current key on the way (``reseal``);
2. new index files are written naming *every* live pack, old index IDs in
   ``supersedes``;
3. the old index files are deleted;
4. packs no index names any more are deleted.

See :mod:`sitesnap.repository.prune` for why every instant is safe.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sitesnap.errors import IntegrityError, RepositoryLocked
from sitesnap.format.blob import DATA, TREE, type_name
from sitesnap.format.crypto import storage_id
from sitesnap.format.index import IndexFile
from sitesnap.format.pack import PackBuilder, PackEntry
from sitesnap.progress import ProgressSink, Tracker
from sitesnap.repository.config import INDEX_PREFIX, PACKS_PER_INDEX, pack_name
from sitesnap.repository.inventory import ensure_deletable
from sitesnap.repository.lock import RepoLock
from sitesnap.repository.masterindex import MasterIndex
from sitesnap.repository.reseal import Resealer

if TYPE_CHECKING:
    from sitesnap.repository.prune import PrunePlan

__all__ = ["PruneResult", "execute_plan"]


@dataclass
class PruneResult:
    packs_written: int = 0
    packs_deleted: int = 0
    index_written: int = 0
    index_deleted: int = 0
    bytes_written: int = 0
    bytes_deleted: int = 0

    @property
    def bytes_freed(self) -> int:
        return self.bytes_deleted - self.bytes_written

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "bytes_freed": self.bytes_freed}


def execute_plan(plan: PrunePlan, sink: ProgressSink, lock: RepoLock | None) -> PruneResult:
    """Carry out ``plan`` (module docstring); sets ``plan.result``.  Not idempotent: plan again."""
    ensure_deletable(plan.repo, "prune")
    result = PruneResult()
    plan.result = result
    if plan.empty:
        return result
    tracker = Tracker("prune", sink)
    tracker.update(force=True, phase="repack", bytes_total=plan.repack_bytes)
    new_packs = _Repacker(plan, result).run(tracker)
    new_ids: list[str] = []
    if plan.rewrite_index:
        tracker.update(force=True, phase="index")
        new_ids = _write_index(plan, {**plan.keep, **new_packs}, result)
    _check_lock(lock)
    tracker.update(force=True, phase="delete")
    _delete(plan, result, lock)
    index = MasterIndex()
    for pack_id, entries in {**plan.keep, **new_packs}.items():
        index.add_pack(pack_id, entries)
    index.index_ids.update(new_ids or plan.old_index_ids)
    plan.repo.index = index
    tracker.finish()
    return result


def _delete(plan: PrunePlan, result: PruneResult, lock: RepoLock | None) -> None:
    """Steps 3 and 4: the superseded index files, then every pack no index names."""
    storage = plan.repo.storage
    for index_id in plan.old_index_ids if plan.rewrite_index else []:
        storage.delete(INDEX_PREFIX + index_id)
        result.index_deleted += 1
    _check_lock(lock)
    doomed = {**plan.delete, **plan.unindexed, **{p: plan.sizes[p] for p in plan.repack}}
    for pack_id, size in doomed.items():
        storage.delete(pack_name(pack_id))
        result.packs_deleted += 1
        result.bytes_deleted += size


class _Repacker:
    """Step 1: the used blobs of the packs to repack, into new packs (one open pack per blob type)."""

    def __init__(self, plan: PrunePlan, result: PruneResult) -> None:
        self.plan = plan
        self.repo = plan.repo
        self.result = result
        self.new_packs: dict[bytes, list[PackEntry]] = {}

    def run(self, tracker: Tracker) -> dict[bytes, list[PackEntry]]:
        builders = {DATA: PackBuilder(), TREE: PackBuilder()}
        resealer = Resealer(self.repo.master)
        for pack_id, entries in self.plan.repack.items():
            raw = self.repo.storage.read(pack_name(pack_id))
            for e in entries:
                sealed, write_only = self._current(resealer, pack_id, e, raw[e.offset : e.offset + e.length])
                builder = builders[e.type]
                builder.add(e.type, e.id, sealed, e.plain_size, write_only=write_only)
                if builder.size >= self.repo.pack_target:
                    self._write_pack(builder)
                    builders[e.type] = PackBuilder()
            tracker.update(bytes_done=len(raw))
        for builder in builders.values():
            if len(builder):
                self._write_pack(builder)
        return self.new_packs

    @staticmethod
    def _current(resealer: Resealer, pack_id: bytes, e: PackEntry, sealed: bytes) -> tuple[bytes, bool]:
        """(sealed blob, sealed to the public key?) with the current key; IntegrityError when damaged."""
        try:
            resealed = resealer.blob(e, sealed)
        except IntegrityError as exc:
            raise IntegrityError(
                f"pack {pack_id.hex()[:16]}: {type_name(e.type)} blob {e.id.hex()[:16]} is in use and "
                f"damaged ({exc.message}); nothing was deleted",
                hint="Run 'sitesnap repair snapshots' to find the snapshots that use it.",
            ) from None
        return (sealed, e.write_only) if resealed is None else (resealed, False)

    def _write_pack(self, builder: PackBuilder) -> None:
        raw = builder.finish(self.repo.aead, self.repo.compressor)
        pack_id = bytes.fromhex(storage_id(memoryview(raw)))
        self.repo.storage.write(pack_name(pack_id), raw)
        self.new_packs[pack_id] = list(builder.entries)
        self.result.packs_written += 1
        self.result.bytes_written += len(raw)


def _write_index(plan: PrunePlan, live_packs: dict[bytes, list[PackEntry]], result: PruneResult) -> list[str]:
    """Step 2: index files naming every live pack, superseding all old ones."""
    live = list(live_packs.items())
    supersedes = [bytes.fromhex(i) for i in plan.old_index_ids]
    written: list[str] = []
    for start in range(0, len(live), PACKS_PER_INDEX):
        chunk = dict(live[start : start + PACKS_PER_INDEX])
        written.append(plan.repo.write_index(IndexFile(chunk, supersedes)))
        result.index_written += 1
    return written


def _check_lock(lock: RepoLock | None) -> None:
    if lock is not None and lock.lost is not None:
        raise RepositoryLocked(f"the exclusive lock could not be refreshed ({lock.lost}); stopped before deleting")
