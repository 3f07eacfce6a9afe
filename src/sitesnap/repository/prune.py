"""Prune: remove data no snapshot references, as ``plan_prune()`` then ``PrunePlan.execute()``.

The plan walks every snapshot's trees to find the blobs in use, then sorts
every pack into one of: *keep* (all of it is in use), *repack* (partly in
use, and rewriting it is worth it), *delete* (nothing in use), *unindexed*
(in storage but named by no index: left by a crashed backup or prune) and
*missing* (named by an index, gone from storage, holding nothing in use).

Execution (:mod:`sitesnap.repository.repack`) follows the write order of
docs/format/v1.md §11, so a crash at any point loses nothing a snapshot
references:

1. used blobs of repacked packs are copied (verified, still sealed) into new packs; a blob sealed
   with an older master key generation (after ``key rotate``) is re-sealed with the current key
   on the way, so a pack whose header is current holds only current blobs (``reseal``);
2. new index files are written naming *every* live pack, old index IDs in ``supersedes``;
3. the old index files are deleted;
4. packs no index names any more are deleted.

Until step 2 completes the old index files still name every old pack, and
no pack is deleted before step 3 has removed every index naming it; at
every instant each blob reachable from a snapshot is named by an index file
whose pack exists.  A pack written in step 1 but not yet indexed is
"unindexed" to the next prune, which deletes it.

Prune refuses to start (before changing anything) when the repository is
append-only, when an index file or snapshot is damaged, or when a blob in
use is missing: deleting on incomplete knowledge could destroy the only copy
of something.  The caller holds an exclusive lock (:func:`prune` takes it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from sitesnap.errors import IntegrityError
from sitesnap.format.blob import type_name
from sitesnap.format.pack import PackEntry
from sitesnap.progress import NULL_SINK, ProgressSink, Tracker
from sitesnap.repository.config import PACKS_PER_INDEX
from sitesnap.repository.inventory import (
    BlobKey,
    ensure_deletable,
    indexed_packs,
    load_index_files,
    storage_packs,
    used_blobs,
)
from sitesnap.repository.lock import RepoLock
from sitesnap.repository.logcheck import log_segment_blobs
from sitesnap.repository.repack import PruneResult, execute_plan
from sitesnap.repository.repository import Repository

__all__ = [
    "PruneOptions",
    "PrunePlan",
    "PruneResult",
    "ensure_deletable",
    "load_index_files",
    "plan_prune",
    "prune",
    "storage_packs",
    "used_blobs",
]

@dataclass(frozen=True)
class PruneOptions:
    """``max_unused``: fraction of the repository that may stay unused (1.0 = never repack);
    ``max_repack``: bytes of packs to rewrite at most (None = no limit);
    ``repack_packs``: packs to rewrite whatever their use (damaged ones, after ``repair``)."""

    max_unused: float = 0.05
    max_repack: int | None = None
    repack_packs: frozenset[bytes] = frozenset()


@dataclass
class PrunePlan:
    """What prune will do; ``execute()`` does it.  Built by :func:`plan_prune`."""

    repo: Repository
    old_index_ids: list[str]
    keep: dict[bytes, list[PackEntry]]
    repack: dict[bytes, list[PackEntry]]
    delete: dict[bytes, int]
    unindexed: dict[bytes, int]
    missing: list[bytes]
    sizes: dict[bytes, int]
    rewrite_index: bool
    used_bytes: int = 0
    unused_bytes: int = 0
    snapshots: int = 0
    indexed: dict[bytes, list[PackEntry]] = field(default_factory=dict)
    result: PruneResult | None = None

    @property
    def empty(self) -> bool:
        return not (self.repack or self.delete or self.unindexed or self.missing or self.rewrite_index)

    @property
    def repack_bytes(self) -> int:
        return sum(self.sizes[p] for p in self.repack)

    @property
    def bytes_to_free(self) -> int:
        """Estimate: deleted packs, plus what repacking drops (the unused part of repacked packs)."""
        kept_in_repack = sum(e.length for entries in self.repack.values() for e in entries)
        return sum(self.delete.values()) + sum(self.unindexed.values()) + self.repack_bytes - kept_in_repack

    def to_json(self) -> dict[str, Any]:
        return {
            "snapshots": self.snapshots,
            "packs_total": len(self.keep) + len(self.repack) + len(self.delete) + len(self.unindexed),
            "packs_keep": len(self.keep),
            "packs_repack": sorted(p.hex() for p in self.repack),
            "packs_delete": sorted(p.hex() for p in self.delete),
            "packs_unindexed": sorted(p.hex() for p in self.unindexed),
            "packs_missing": sorted(p.hex() for p in self.missing),
            "index_files": len(self.old_index_ids),
            "rewrite_index": self.rewrite_index,
            "used_bytes": self.used_bytes,
            "unused_bytes": self.unused_bytes,
            "repack_bytes": self.repack_bytes,
            "bytes_to_free": self.bytes_to_free,
            "result": self.result.to_json() if self.result else None,
        }

    def execute(self, *, sink: ProgressSink = NULL_SINK, lock: RepoLock | None = None) -> PruneResult:
        """Carry out the plan in crash-safe order (module docstring).  Not idempotent: plan again."""
        return execute_plan(self, sink, lock)


def _claim(
    packs: dict[bytes, list[PackEntry]], sizes: dict[bytes, int], used: set[BlobKey]
) -> dict[bytes, list[PackEntry]]:
    """Choose one copy of every used blob, preferring packs that are most in use.

    Returns pack -> entries claimed there.  Duplicates elsewhere count as unused.
    """

    def usage(pack_id: bytes) -> tuple[float, int]:
        entries = packs[pack_id]
        total = sum(e.length for e in entries) or 1
        in_use = sum(e.length for e in entries if (e.type, e.id) in used)
        return (-in_use / total, -total)

    claimed: set[BlobKey] = set()
    out: dict[bytes, list[PackEntry]] = {}
    for pack_id in sorted((p for p in packs if p in sizes), key=usage):
        mine = []
        for e in packs[pack_id]:
            key = (e.type, e.id)
            if key in used and key not in claimed:
                claimed.add(key)
                mine.append(e)
        out[pack_id] = mine
    lost = used - claimed
    if lost:
        blob_type, blob_id = next(iter(lost))
        raise IntegrityError(
            f"{len(lost)} blob(s) in use have no pack in storage (e.g. {type_name(blob_type)} blob "
            f"{blob_id.hex()[:16]}); refusing to delete anything",
            hint="Run 'sitesnap repair index', then 'sitesnap repair snapshots'.",
        )
    return out


def plan_prune(
    repo: Repository, options: PruneOptions = PruneOptions(), *, sink: ProgressSink = NULL_SINK
) -> PrunePlan:
    """Plan a prune.  The caller holds an exclusive lock.  Changes nothing.

    Raises IntegrityError when the repository is damaged in a way that makes
    deleting unsafe.  (An append-only repository may be planned, as a dry
    run; ``execute`` refuses it.)
    """
    repo.require_read("prune")
    tracker = Tracker("prune", sink)
    tracker.update(force=True, phase="index")
    indexes = load_index_files(repo)
    tracker.update(force=True, phase="snapshots")
    snapshots = repo.load_snapshots(on_error=_refuse_damaged_snapshot)
    tracker.update(force=True, phase="trees")
    used = used_blobs(repo, [s.tree for s in snapshots]) | log_segment_blobs(repo)
    sizes = storage_packs(repo)
    packs = indexed_packs(indexes)
    claimed = _claim(packs, sizes, used)
    plan = PrunePlan(repo, sorted(indexes), {}, {}, {}, {}, [], sizes, False, snapshots=len(snapshots), indexed=packs)
    plan.missing = [p for p in packs if p not in sizes]
    plan.unindexed = {p: s for p, s in sizes.items() if p not in packs}
    candidates: list[bytes] = []
    for pack_id, mine in claimed.items():
        size = sizes[pack_id]
        in_use = sum(e.length for e in mine)
        plan.used_bytes += in_use
        if not mine:
            plan.delete[pack_id] = size
        elif pack_id in options.repack_packs:
            plan.repack[pack_id] = mine
        elif len(mine) == len(packs[pack_id]):
            plan.keep[pack_id] = packs[pack_id]
        else:
            candidates.append(pack_id)
            plan.unused_bytes += size - in_use
    _choose_repacks(plan, candidates, claimed, packs, options)
    needed = math.ceil((len(plan.keep) + (1 if plan.repack else 0)) / PACKS_PER_INDEX)
    plan.rewrite_index = bool(plan.delete or plan.repack or plan.missing) or len(indexes) > needed
    tracker.finish()
    return plan


def _refuse_damaged_snapshot(snapshot_id: str, exc: Exception) -> None:
    raise IntegrityError(
        f"snapshot {snapshot_id[:16]} is unreadable ({exc}); refusing to delete anything",
        hint="Run 'sitesnap repair snapshots --forget' to remove damaged snapshots.",
    )


def _choose_repacks(
    plan: PrunePlan,
    candidates: list[bytes],
    claimed: dict[bytes, list[PackEntry]],
    packs: dict[bytes, list[PackEntry]],
    options: PruneOptions,
) -> None:
    """Repack the emptiest partly used packs until the unused share is within ``max_unused``."""
    share = options.max_unused
    limit = math.inf if share >= 1 else share / (1 - share) * plan.used_bytes
    budget = math.inf if options.max_repack is None else options.max_repack - plan.repack_bytes

    def unused_share(pack_id: bytes) -> float:
        size = plan.sizes[pack_id]
        return (size - sum(e.length for e in claimed[pack_id])) / max(size, 1)

    for pack_id in sorted(candidates, key=unused_share, reverse=True):
        size = plan.sizes[pack_id]
        if plan.unused_bytes > limit and size <= budget:
            plan.repack[pack_id] = claimed[pack_id]
            plan.unused_bytes -= size - sum(e.length for e in claimed[pack_id])
            budget -= size
        else:
            plan.keep[pack_id] = packs[pack_id]


def prune(
    repo: Repository,
    options: PruneOptions = PruneOptions(),
    *,
    dry_run: bool = False,
    sink: ProgressSink = NULL_SINK,
) -> PrunePlan:
    """Lock (exclusive; shared for a dry run), plan, and unless ``dry_run`` execute.

    Raises RepositoryLocked while a backup or another prune holds a lock.
    """
    if not dry_run:
        ensure_deletable(repo, "prune")
    with repo.lock(exclusive=not dry_run, operation="prune") as held:
        plan = plan_prune(repo, options, sink=sink)
        if not dry_run:
            plan.execute(sink=sink, lock=held)
    return plan
