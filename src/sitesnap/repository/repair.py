"""Repair: rebuild the index from the packs, find and remove damaged snapshots.

- :func:`repair_index` reads every pack's header (two small range reads per
  pack), writes fresh index files naming every readable pack and
  superseding all old index files, then deletes the old ones: new before
  old, as prune does, so a crash leaves a loadable index.  Packs whose
  header cannot be read are reported and left alone.
- :func:`plan_repair_snapshots` finds snapshots that cannot be restored
  completely: an unreadable snapshot file, a tree that is missing or
  damaged, a data blob missing from the index or from storage, or (with
  ``read_data``, the default) one whose bytes fail verification.  ``execute()`` deletes those
  snapshots and then removes the damage itself: a prune that rewrites the
  damaged packs (keeping their intact blobs that other snapshots use) and
  drops index entries of packs that are gone, so ``check --read-data``
  passes afterwards and every remaining snapshot restores.

Both change the repository; the caller holds an exclusive lock.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sitesnap.errors import IntegrityError, ObjectNotFound, StorageError
from sitesnap.format.blob import DATA, TREE, decode_blob, type_name
from sitesnap.format.crypto import storage_id
from sitesnap.format.index import IndexFile
from sitesnap.format.pack import PackEntry, split_pack_tail
from sitesnap.format.snapshot import Snapshot
from sitesnap.progress import NULL_SINK, ProgressSink, Tracker
from sitesnap.repository.config import INDEX_PREFIX, PACKS_PER_INDEX, pack_name
from sitesnap.repository.masterindex import MasterIndex
from sitesnap.repository.prune import PruneOptions, PruneResult, ensure_deletable, plan_prune
from sitesnap.repository.repository import Repository

__all__ = [
    "DamagedSnapshot",
    "IndexRepairReport",
    "SnapshotRepairPlan",
    "plan_repair_snapshots",
    "repair_index",
]

BlobKey = tuple[int, bytes]


@dataclass
class IndexRepairReport:
    packs_indexed: int = 0
    blobs_indexed: int = 0
    index_written: int = 0
    index_removed: int = 0
    damaged_index: list[str] = field(default_factory=list)
    unreadable_packs: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def read_pack_header(repo: Repository, pack_id: bytes, size: int) -> list[PackEntry]:
    """A pack's entries from its header alone (two range reads); IntegrityError if unreadable."""
    name = pack_name(pack_id)
    what = f"pack {pack_id.hex()[:16]}"
    tail = repo.storage.read(name, max(size - 4, 0), 4)
    header_len = split_pack_tail(tail, size, what)
    header_off = size - 4 - header_len
    sealed = repo.storage.read(name, header_off, header_len)
    if len(sealed) != header_len:
        raise IntegrityError(f"{what} is truncated")
    return repo.decode_pack_header(sealed, header_off, what)


def repair_index(repo: Repository, *, sink: ProgressSink = NULL_SINK) -> IndexRepairReport:
    """Rebuild the index from pack headers; see the module docstring.  Needs an exclusive lock."""
    from sitesnap.repository.prune import storage_packs

    ensure_deletable(repo, "repair index")
    report = IndexRepairReport()
    tracker = Tracker("repair-index", sink)
    old_ids = repo.list_ids(INDEX_PREFIX)
    for index_id in old_ids:
        try:
            repo.read_index(index_id)
        except (IntegrityError, ObjectNotFound):
            report.damaged_index.append(index_id)
    sizes = storage_packs(repo)
    tracker.update(force=True, phase="pack headers", files_total=len(sizes))

    def header(item: tuple[bytes, int]) -> tuple[bytes, list[PackEntry] | str]:
        pack_id, size = item
        try:
            return pack_id, read_pack_header(repo, pack_id, size)
        except (IntegrityError, StorageError) as exc:
            return pack_id, exc.message

    packs: dict[bytes, list[PackEntry]] = {}
    with ThreadPoolExecutor(max_workers=8) as pool:
        for pack_id, res in pool.map(header, sorted(sizes.items())):
            tracker.update(files_done=1)
            if isinstance(res, str):
                report.unreadable_packs[pack_id.hex()] = res
            else:
                packs[pack_id] = res
    supersedes = [bytes.fromhex(i) for i in old_ids]
    items = list(packs.items())
    new_ids = [
        repo.write_index(IndexFile(dict(items[start : start + PACKS_PER_INDEX]), supersedes))
        for start in range(0, len(items), PACKS_PER_INDEX)
    ]
    report.index_written = len(new_ids)
    for index_id in old_ids:
        repo.storage.delete(INDEX_PREFIX + index_id)
        report.index_removed += 1
    index = MasterIndex()
    for pack_id, entries in items:
        index.add_pack(pack_id, entries)
    index.index_ids.update(new_ids)
    repo.index = index
    report.packs_indexed = len(packs)
    report.blobs_indexed = sum(len(e) for e in packs.values())
    tracker.finish()
    return report


# --- snapshots ------------------------------------------------------------------------


@dataclass(frozen=True)
class DamagedSnapshot:
    id: str
    reason: str
    time: str = ""
    site: str | None = None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class SnapshotRepairPlan:
    repo: Repository
    damaged: list[DamagedSnapshot]
    intact: list[str]
    damaged_packs: set[bytes]
    damaged_index: list[str]
    removed: list[str] = field(default_factory=list)
    prune_result: PruneResult | None = None
    index_report: IndexRepairReport | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "damaged": [d.to_json() for d in self.damaged],
            "intact": self.intact,
            "damaged_packs": sorted(p.hex() for p in self.damaged_packs),
            "damaged_index": self.damaged_index,
            "removed": self.removed,
            "prune": self.prune_result.to_json() if self.prune_result else None,
            "index": self.index_report.to_json() if self.index_report else None,
        }

    def execute(self, *, sink: ProgressSink = NULL_SINK) -> SnapshotRepairPlan:
        """Delete the damaged snapshots, then rewrite damaged packs and drop lost ones from the index.

        Raises AppendOnlyError (before deleting anything) on an append-only repository.
        """
        ensure_deletable(self.repo, "repair snapshots --forget")
        if self.damaged_index:
            self.index_report = repair_index(self.repo, sink=sink)
        for snap in self.damaged:
            self.repo.delete_snapshot(snap.id)
            self.removed.append(snap.id)
        options = PruneOptions(max_unused=1.0, repack_packs=frozenset(self.damaged_packs))
        plan = plan_prune(self.repo, options, sink=sink)
        if self.damaged_packs or plan.missing:
            # Only the damage is cleaned up here: unused data elsewhere is left for a regular prune.
            for pack_id in [p for p in plan.delete if p not in self.damaged_packs]:
                plan.keep[pack_id] = plan.indexed[pack_id]
                del plan.delete[pack_id]
            plan.unindexed.clear()
            plan.rewrite_index = True
            self.prune_result = plan.execute(sink=sink)
        return self


def _bad_blobs(repo: Repository, tracker: Tracker) -> tuple[set[BlobKey], set[bytes]]:
    """Blobs of the index whose bytes are missing or fail verification, and the damaged packs.

    A pack is damaged when its content no longer matches its name, even if
    every blob still verifies (a flipped bit in the header): it is rewritten too.
    """
    packs = repo.index.packs()
    tracker.update(force=True, phase="read-data", files_total=len(packs))

    def verify(pack_id: bytes) -> tuple[bytes, list[BlobKey], bool]:
        entries = packs[pack_id]
        try:
            raw = repo.storage.read(pack_name(pack_id))
        except StorageError:
            return pack_id, [(e.type, e.id) for e in entries], True
        bad: list[BlobKey] = []
        damaged_header = storage_id(raw) != pack_id.hex()
        for e in entries:
            try:
                decode_blob(repo.master, repo.aead, e.type, e.id, raw[e.offset : e.offset + e.length], e.plain_size,
                            write_only=e.write_only)
            except IntegrityError:
                bad.append((e.type, e.id))
        return pack_id, bad, damaged_header

    bad_blobs: set[BlobKey] = set()
    bad_packs: set[bytes] = set()
    with ThreadPoolExecutor(max_workers=2) as pool:
        for pack_id, bad, damaged in pool.map(verify, sorted(packs)):
            tracker.update(files_done=1)
            if bad or damaged:
                bad_blobs.update(bad)
                bad_packs.add(pack_id)
    return bad_blobs, bad_packs


def _lost_blobs(repo: Repository) -> tuple[set[BlobKey], set[bytes]]:
    """Blobs of the index whose pack is gone from storage (one listing, no reads), and those packs."""
    from sitesnap.repository.prune import storage_packs

    present = storage_packs(repo)
    lost: set[BlobKey] = set()
    gone: set[bytes] = set()
    for pack_id, entries in repo.index.packs().items():
        if pack_id not in present:
            gone.add(pack_id)
            lost.update((e.type, e.id) for e in entries)
    return lost, gone


class _TreeJudge:
    """Why a tree cannot be restored completely (None: it can), memoized across snapshots."""

    def __init__(self, repo: Repository, bad: set[BlobKey]) -> None:
        self.repo = repo
        self.bad = bad
        self.verdicts: dict[bytes, str | None] = {}

    def data_problem(self, blob_id: bytes) -> str | None:
        if (DATA, blob_id) in self.bad:
            return "damaged"
        if not self.repo.index.has(DATA, blob_id):
            return "missing"
        return None

    def judge(self, tree_id: bytes, path: str = "/") -> str | None:
        if tree_id in self.verdicts:
            return self.verdicts[tree_id]
        verdict = self._judge(tree_id, path)
        self.verdicts[tree_id] = verdict
        return verdict

    def _judge(self, tree_id: bytes, path: str) -> str | None:
        if (TREE, tree_id) in self.bad:
            return f"{type_name(TREE)} blob {tree_id.hex()[:16]} of {path} is damaged"
        try:
            nodes = self.repo.load_tree(tree_id)
        except IntegrityError as exc:
            return f"tree of {path}: {exc.message}"
        for node in nodes:
            child = f"{path.rstrip('/')}/{node.display_name}"
            if node.type == "dir" and node.subtree is not None:
                reason = self.judge(node.subtree, child)
                if reason:
                    return reason
            elif node.type == "file":
                for blob_id in node.content:
                    problem = self.data_problem(blob_id)
                    if problem:
                        return f"data blob {blob_id.hex()[:16]} of {child} is {problem}"
        return None


def plan_repair_snapshots(
    repo: Repository, *, read_data: bool = True, sink: ProgressSink = NULL_SINK
) -> SnapshotRepairPlan:
    """Find every snapshot that cannot be restored completely.  Changes nothing."""
    tracker = Tracker("repair-snapshots", sink)
    damaged_index = repo.load_index(strict=False)
    damaged: list[DamagedSnapshot] = []
    on_error: Callable[[str, Exception], None] = lambda sid, exc: damaged.append(  # noqa: E731
        DamagedSnapshot(sid, f"snapshot file unreadable: {exc}")
    )
    snapshots: list[Snapshot] = repo.load_snapshots(on_error=on_error)
    bad, bad_packs = _bad_blobs(repo, tracker) if read_data else _lost_blobs(repo)
    judge = _TreeJudge(repo, bad)
    intact: list[str] = []
    tracker.update(force=True, phase="trees")
    for snap in snapshots:
        reason = judge.judge(snap.tree)
        if reason:
            damaged.append(DamagedSnapshot(snap.id, reason, snap.time.isoformat(), snap.site))
        else:
            intact.append(snap.id)
    tracker.finish()
    return SnapshotRepairPlan(repo, damaged, intact, bad_packs, damaged_index)
