"""``key reencrypt``: rewrite what older master key generations sealed, then forget those keys.

:func:`plan_reencrypt` then :meth:`ReencryptPlan.execute`, under an exclusive
lock (:func:`reencrypt` takes it).  What happens, in this order (each step is
crash-safe on its own, and a rerun picks up where a crash stopped):

1. **Packs** whose header an older generation sealed: the blobs in use are
   re-sealed with the current key into new packs, new index files sealed
   with the current key name every live pack, then the old index files are
   deleted, then the old packs.  This is prune's repack (``PrunePlan`` with
   ``repack_packs``) and its write order (prune.py, docs/format/v1.md
   section 11); old packs nothing uses, and unindexed packs that are not
   current, are deleted rather than rewritten.  A pack whose header is
   current holds only current blobs, because prune re-seals older blobs when
   it repacks (reseal.py).
2. **Snapshots** sealed with an older key are re-sealed.  The ID of a
   snapshot is the hash of its file, so the re-sealed one has a new ID; it
   records ``reencrypted_from`` (the old ID) and keeps ``original`` (the
   first original, or the old ID), so ``copy`` still recognises it.  The new
   file is written before the old one is deleted, and a rerun that finds a
   snapshot re-sealed from an old one only deletes the old one.
3. **Locks** of others sealed with an older key (stale, left by crashes) are
   re-sealed in place.
4. Nothing sealed with an older key may be left (checked again); then the
   **commit point**: a keyring of the same generation with no older keys,
   after which every other keyring is deleted.  From then on the older keys
   are gone from the repository.

Refused on append-only storage (it deletes), and when an index file, a
snapshot or a pack in use is damaged (``sitesnap repair`` first).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from sitesnap.errors import IntegrityError, RepositoryLocked, StorageError
from sitesnap.format.envelope import (
    KIND_INDEX,
    KIND_LOCK,
    KIND_PACK_HEADER,
    KIND_SNAPSHOT,
)
from sitesnap.format.pack import split_pack_tail
from sitesnap.progress import NULL_SINK, ProgressSink, Tracker
from sitesnap.repository import keyring
from sitesnap.repository.config import INDEX_PREFIX, SNAPSHOTS_PREFIX, pack_name
from sitesnap.repository.lock import LOCKS_PREFIX, RepoLock
from sitesnap.repository.prune import PruneOptions, PrunePlan, ensure_deletable, plan_prune, storage_packs
from sitesnap.repository.repository import Repository
from sitesnap.repository.reseal import Resealer

__all__ = ["ReencryptPlan", "ReencryptResult", "plan_reencrypt", "reencrypt"]


@dataclass
class ReencryptResult:
    packs_written: int = 0
    packs_deleted: int = 0
    index_written: int = 0
    index_deleted: int = 0
    bytes_written: int = 0
    snapshots: dict[str, str] = field(default_factory=dict)  # old ID -> new ID
    locks_resealed: int = 0
    keyrings_removed: list[str] = field(default_factory=list)
    older_keys_dropped: int = 0

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class ReencryptPlan:
    """What ``key reencrypt`` will rewrite; ``execute()`` does it.  Built by :func:`plan_reencrypt`."""

    repo: Repository
    older_keys: int
    older_packs: dict[bytes, int] = field(default_factory=dict)
    current_packs: set[bytes] = field(default_factory=set)
    older_index: list[str] = field(default_factory=list)
    older_snapshots: list[str] = field(default_factory=list)
    older_locks: list[str] = field(default_factory=list)
    leftover_keyrings: list[str] = field(default_factory=list)
    prune: PrunePlan | None = None
    result: ReencryptResult | None = None

    @property
    def empty(self) -> bool:
        return not self.older_keys and not self.leftover_keyrings

    def to_json(self) -> dict[str, Any]:
        return {
            "older_keys": self.older_keys,
            "packs_to_rewrite": sorted(p.hex() for p in self.older_packs),
            "bytes_to_rewrite": sum(self.older_packs.values()),
            "index_files_to_rewrite": len(self.older_index),
            "snapshots_to_reseal": self.older_snapshots,
            "locks_to_reseal": self.older_locks,
            "leftover_keyrings": self.leftover_keyrings,
            "result": self.result.to_json() if self.result else None,
        }

    def execute(self, *, sink: ProgressSink = NULL_SINK, lock: RepoLock | None = None) -> ReencryptResult:
        """Carry out the plan in the order of the module docstring.  The caller holds an exclusive lock."""
        ensure_deletable(self.repo, "key reencrypt")
        result = ReencryptResult()
        self.result = result
        tracker = Tracker("reencrypt", sink)
        if self.older_keys:
            if self.prune is not None:
                pruned = self.prune.execute(sink=sink, lock=lock)
                result.packs_written, result.packs_deleted = pruned.packs_written, pruned.packs_deleted
                result.index_written, result.index_deleted = pruned.index_written, pruned.index_deleted
                result.bytes_written = pruned.bytes_written
                # Every pack the new index names is current: the ones kept were, the new ones are.
                self.current_packs.update(self.repo.index.packs())
            tracker.update(force=True, phase="snapshots", files_total=len(self.older_snapshots))
            result.snapshots = _reseal_snapshots(self.repo, self.older_snapshots, tracker)
            tracker.update(force=True, phase="locks")
            result.locks_resealed = _reseal_locks(self.repo, self.older_locks)
            tracker.update(force=True, phase="verify")
            _verify_current(self.repo, self.current_packs, lock)
        tracker.update(force=True, phase="keyring")
        result.keyrings_removed = _drop_older_keys(self.repo)
        result.older_keys_dropped = self.older_keys
        tracker.finish()
        return result


def plan_reencrypt(repo: Repository, *, sink: ProgressSink = NULL_SINK) -> ReencryptPlan:
    """Find everything sealed with an older key generation.  The caller holds a lock.  Changes nothing.

    Raises IntegrityError when something that must be rewritten is damaged.
    """
    repo.require_read("key reencrypt")
    resealer = Resealer(repo.master)
    plan = ReencryptPlan(repo, len(repo.master.older))
    scan = keyring.scan_keyrings(repo.storage, repo.master.current, repo.config.key_generation)
    plan.leftover_keyrings = scan.leftovers
    if not plan.older_keys:
        return plan
    tracker = Tracker("reencrypt", sink)
    sizes = storage_packs(repo)
    tracker.update(force=True, phase="scan", files_total=len(sizes))
    damaged: dict[bytes, str] = {}
    with ThreadPoolExecutor(max_workers=8) as pool:
        for pack_id, state in pool.map(lambda item: _pack_state(repo, resealer, *item), sorted(sizes.items())):
            tracker.update(files_done=1)
            if state == "current":
                plan.current_packs.add(pack_id)
            elif state == "older":
                plan.older_packs[pack_id] = sizes[pack_id]
            else:
                damaged[pack_id] = state
    plan.older_index = _older_objects(repo, resealer, INDEX_PREFIX, KIND_INDEX, "index")
    plan.older_snapshots = _older_objects(repo, resealer, SNAPSHOTS_PREFIX, KIND_SNAPSHOT, "snapshot")
    plan.older_locks = _older_objects(repo, resealer, LOCKS_PREFIX, KIND_LOCK, "lock")
    plan.prune = _plan_repack(repo, plan, damaged, sink)
    tracker.finish()
    return plan


def reencrypt(repo: Repository, *, dry_run: bool = False, sink: ProgressSink = NULL_SINK) -> ReencryptPlan:
    """Lock (exclusive; shared for a dry run), plan, and unless ``dry_run`` execute."""
    if not dry_run:
        ensure_deletable(repo, "key reencrypt")
    with repo.lock(exclusive=not dry_run, operation="key reencrypt") as held:
        plan = plan_reencrypt(repo, sink=sink)
        if not dry_run and not plan.empty:
            plan.execute(sink=sink, lock=held)
    return plan


# --- planning -------------------------------------------------------------------------


def _pack_state(repo: Repository, resealer: Resealer, pack_id: bytes, size: int) -> tuple[bytes, str]:
    """("current" | "older" | why it is unreadable) from the pack's header alone (two range reads)."""
    name = pack_name(pack_id)
    what = f"pack {pack_id.hex()[:16]}"
    try:
        header_len = split_pack_tail(repo.storage.read(name, max(size - 4, 0), 4), size, what)
        header_off = size - 4 - header_len
        sealed = repo.storage.read(name, header_off, header_len)
        if resealer.envelope_is_current(sealed, KIND_PACK_HEADER, what):
            return pack_id, "current"
        repo.decode_pack_header(sealed, header_off, what)
        return pack_id, "older"
    except (IntegrityError, StorageError) as exc:
        return pack_id, exc.message


def _older_objects(repo: Repository, resealer: Resealer, prefix: str, kind: int, noun: str) -> list[str]:
    """IDs under ``prefix`` that the current key alone does not open (an older key, or damage)."""
    def state(object_id: str) -> tuple[str, bool]:
        try:
            raw = repo.storage.read(prefix + object_id)
        except StorageError:
            return object_id, True
        return object_id, resealer.envelope_is_current(raw, kind, f"{noun} {object_id[:8]}")

    with ThreadPoolExecutor(max_workers=8) as pool:
        return [oid for oid, current in pool.map(state, repo.list_ids(prefix)) if not current]


def _plan_repack(repo: Repository, plan: ReencryptPlan, damaged: dict[bytes, str], sink: ProgressSink) -> PrunePlan:
    """Prune's plan, narrowed to rewriting older packs (and rewriting every index file)."""
    prune_plan = plan_prune(repo, PruneOptions(max_unused=1.0, repack_packs=frozenset(plan.older_packs)), sink=sink)
    in_use_damaged = [p for p in damaged if p in prune_plan.indexed]
    if in_use_damaged:
        pack_id = in_use_damaged[0]
        raise IntegrityError(
            f"pack {pack_id.hex()[:16]} is unreadable ({damaged[pack_id]}); nothing was re-encrypted",
            hint="Run 'sitesnap check --read-data' and 'sitesnap repair', then 'sitesnap key reencrypt' again.",
        )
    # Only what older keys sealed changes here; unused current data is left for a regular prune.
    for pack_id in [p for p in prune_plan.delete if p in plan.current_packs]:
        prune_plan.keep[pack_id] = prune_plan.indexed[pack_id]
        del prune_plan.delete[pack_id]
    prune_plan.unindexed = {p: s for p, s in prune_plan.unindexed.items() if p not in plan.current_packs}
    prune_plan.rewrite_index = True
    return prune_plan


# --- execution ------------------------------------------------------------------------


def _reseal_snapshots(repo: Repository, older: list[str], tracker: Tracker) -> dict[str, str]:
    """Step 2; returns old ID -> new ID (also for snapshots a crashed run already re-sealed)."""
    if not older:
        return {}
    doomed = set(older)
    snapshots = repo.load_snapshots()
    done = {s.reencrypted_from: s.id for s in snapshots if s.reencrypted_from and s.id not in doomed}
    mapping: dict[str, str] = {}
    for snap in snapshots:
        if snap.id not in doomed:
            continue
        new_id = done.get(snap.id)
        if new_id is None:
            parent = mapping.get(snap.parent or "", done.get(snap.parent or "", snap.parent))
            copy = replace(snap, id="", parent=parent, reencrypted_from=snap.id, original=snap.original or snap.id)
            new_id = repo.save_snapshot(copy)
        repo.delete_snapshot(snap.id)
        mapping[snap.id] = new_id
        tracker.update(files_done=1)
    return mapping


def _reseal_locks(repo: Repository, older: list[str]) -> int:
    """Step 3: stale locks of others, re-sealed in place (``unlock`` still shows and removes them)."""
    count = 0
    for lock_id in older:
        name = LOCKS_PREFIX + lock_id
        try:
            payload = repo.sealer.open_shared(repo.storage.read(name), KIND_LOCK, f"lock {lock_id[:8]}")
        except (IntegrityError, StorageError):
            continue  # gone, or damaged: 'sitesnap unlock' removes it
        repo.storage.write(name, repo.sealer.seal_shared(repo.compressor, KIND_LOCK, payload))
        count += 1
    return count


def _verify_current(repo: Repository, current_packs: set[bytes], lock: RepoLock | None) -> None:
    """Before the older keys are dropped: nothing they sealed may be left (else they would be unreadable)."""
    resealer = Resealer(repo.master)
    left = [f"pack {p.hex()[:16]}" for p in storage_packs(repo) if p not in current_packs]
    left += [f"index {i[:16]}" for i in _older_objects(repo, resealer, INDEX_PREFIX, KIND_INDEX, "index")]
    left += [f"snapshot {s[:16]}" for s in _older_objects(repo, resealer, SNAPSHOTS_PREFIX, KIND_SNAPSHOT, "snapshot")]
    if left:
        raise IntegrityError(
            f"{len(left)} object(s) are still sealed with an older key or unreadable (e.g. {left[0]}); "
            "the older keys were kept",
            hint="Run 'sitesnap check', then 'sitesnap key reencrypt' again.",
        )
    if lock is not None and lock.lost is not None:
        raise RepositoryLocked(f"the exclusive lock could not be refreshed ({lock.lost}); the older keys were kept")


def _drop_older_keys(repo: Repository) -> list[str]:
    """Step 4: the commit point (a keyring without older keys), then every other keyring is deleted."""
    current = repo.master.current
    keep = None
    if repo.config.key_generation:
        scan = keyring.scan_keyrings(repo.storage, current, repo.config.key_generation)
        keep = scan.chosen.id if scan.chosen is not None and not scan.chosen.older else None
        if keep is None:
            keep = keyring.write_keyring(repo.storage, current, repo.compressor, repo.config.key_generation, ())
    removed = []
    for keyring_id in keyring.keyring_ids(repo.storage):
        if keyring_id != keep:
            repo.storage.delete(keyring.KEYRING_PREFIX + keyring_id)
            removed.append(keyring_id)
    repo.adopt_master(current, repo.config, repo.key_id)
    return removed
