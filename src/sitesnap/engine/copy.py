"""Copy snapshots between repositories, and the automatic copy after a site backup.

A copy is identified by the ``original`` field of the copied snapshot: the
source snapshot's ID (or, for a copy of a copy, the first original).  A
snapshot is copied when no snapshot in the destination has its key, so
repeating a copy moves nothing.

Two ways of moving data:

- **Same blob IDs** (the destination was made with ``sitesnap init
  --copy-chunker-params-from``, so it shares the source's ID key): every
  blob keeps its ID and only blobs the destination lacks move, decrypted
  from the source and re-encrypted with the destination's key.
- **Translated IDs** (independent keys): every data blob is read and hashed
  with the destination's key, and trees are rewritten bottom-up with the new
  IDs.  Correct, but it reads everything it copies.

Write order in the destination is the backup's: packs, index (``flush``),
then the snapshot, one snapshot at a time, so a crash mid-copy leaves only
unreferenced data.  Both repositories are held with shared locks.

A copy catches up (restic ``copy`` semantics): the automatic copy after a
backup copies every snapshot of the site the destination lacks, not only the
new one, so a copy that was killed or failed earlier is completed by the
next.  What a killed copy left behind is reused when its index was written
(its blobs are not sent again) and otherwise unreferenced, removed by the
destination's next ``prune``.  Every snapshot a copy writes is verified in
the destination (:mod:`sitesnap.engine.copyverify`) before the copy reports
success, so a copy onto a damaged repository fails instead of saying "ok".

The log stream of continuous sources is copied with the snapshots, every
segment the destination lacks (:mod:`sitesnap.engine.logcopy`), so a
restore to any second works from the copy too.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sitesnap.config import SiteConfig
from sitesnap.engine.copyverify import verify_written
from sitesnap.engine.logcopy import copy_log_segments
from sitesnap.engine.opening import PasswordSource, open_storage_of, open_target, target_of, url_target
from sitesnap.errors import CopyFailed, SitesnapError
from sitesnap.format.blob import DATA, TREE
from sitesnap.format.snapshot import Snapshot
from sitesnap.format.tree import decode_tree
from sitesnap.progress import NULL_SINK, ProgressSink, Tracker
from sitesnap.repository.repository import Repository

__all__ = [
    "COPIES_FILE",
    "CopyOutcome",
    "CopyResult",
    "copy_after_backup",
    "copy_snapshots",
    "init_with_params_of",
    "load_copy_status",
    "raise_for_failed_copies",
    "record_outcomes",
    "snapshot_key",
]

COPIES_FILE = "copies.jsonl"


def snapshot_key(snap: Snapshot) -> str:
    """What identifies a snapshot across repositories: its first original's ID."""
    return snap.original or snap.id


def shares_ids(src: Repository, dst: Repository) -> bool:
    """True when both repositories give equal plaintext equal blob IDs."""
    return src.master.id_key == dst.master.id_key


@dataclass
class CopyResult:
    copied: dict[str, str] = field(default_factory=dict)  # source snapshot ID -> new ID in the destination
    skipped: dict[str, str] = field(default_factory=dict)  # already in the destination: source ID -> its copy
    blobs_copied: int = 0
    bytes_sent: int = 0
    translated: bool = False
    log_segments_copied: int = 0  # continuous capture's log stream (engine/logcopy.py)
    log_segments_skipped: int = 0

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class _SameIds:
    """Moves the blobs the destination lacks, keeping their IDs."""

    def __init__(self, src: Repository, dst: Repository, result: CopyResult, tracker: Tracker) -> None:
        self.src, self.dst, self.result, self.tracker = src, dst, result, tracker
        self.done: set[bytes] = set()

    def _move(self, blob_type: int, blob_id: bytes, plain: bytes | None = None) -> None:
        if self.dst.has_blob(blob_type, blob_id):
            return
        data = plain if plain is not None else self.src.load_blob(blob_type, blob_id)
        _, added = self.dst.save_blob(blob_type, data, blob_id)
        self.result.blobs_copied += 1
        self.result.bytes_sent += added
        self.tracker.update(bytes_done=len(data), bytes_new=added)

    def tree(self, root: bytes) -> bytes:
        stack = [root]
        while stack:
            tree_id = stack.pop()
            if tree_id in self.done:
                continue
            self.done.add(tree_id)
            raw = self.src.load_blob(TREE, tree_id)
            for node in decode_tree(raw, f"tree {tree_id.hex()[:16]}"):
                if node.type == "dir" and node.subtree is not None:
                    stack.append(node.subtree)
                elif node.type == "file":
                    for blob_id in node.content:
                        self._move(DATA, blob_id)
            self._move(TREE, tree_id, raw)
        return root


class _Translated:
    """Re-hashes plaintext with the destination's ID key and rewrites trees bottom-up."""

    def __init__(self, src: Repository, dst: Repository, result: CopyResult, tracker: Tracker) -> None:
        self.src, self.dst, self.result, self.tracker = src, dst, result, tracker
        self.data_ids: dict[bytes, bytes] = {}
        self.tree_ids: dict[bytes, bytes] = {}

    def _data(self, blob_id: bytes) -> bytes:
        new = self.data_ids.get(blob_id)
        if new is None:
            plain = self.src.load_blob(DATA, blob_id)
            new, added = self.dst.save_blob(DATA, plain)
            if added:
                self.result.blobs_copied += 1
                self.result.bytes_sent += added
            self.tracker.update(bytes_done=len(plain), bytes_new=added)
            self.data_ids[blob_id] = new
        return new

    def tree(self, tree_id: bytes) -> bytes:
        new = self.tree_ids.get(tree_id)
        if new is not None:
            return new
        nodes = self.src.load_tree(tree_id)
        for node in nodes:
            if node.type == "dir" and node.subtree is not None:
                node.subtree = self.tree(node.subtree)
            elif node.type == "file":
                node.content = [self._data(b) for b in node.content]
        new, added = self.dst.save_tree(nodes)
        if added:
            self.result.blobs_copied += 1
            self.result.bytes_sent += added
        self.tree_ids[tree_id] = new
        return new


def copy_snapshots(
    src: Repository,
    dst: Repository,
    refs: list[str] | None = None,
    *,
    sink: ProgressSink = NULL_SINK,
) -> CopyResult:
    """Copy the snapshots named by ``refs`` (default: all) that ``dst`` lacks; see the module docstring.

    Raises RepositoryLocked if either repository is exclusively locked,
    SnapshotNotFound for an unknown ref, IntegrityError for damaged source data
    or when what was written cannot be found again in the destination.
    """
    result = CopyResult(translated=not shares_ids(src, dst))
    tracker = Tracker("copy", sink)
    with src.lock(operation="copy (source)"), dst.lock(operation="copy"):
        src.load_index()
        dst.load_index()
        src_snaps = src.load_snapshots()
        chosen = [src.find_snapshot(r, src_snaps) for r in refs] if refs else src_snaps
        present = {snapshot_key(d): d.id for d in dst.load_snapshots(on_error=lambda *_: None)}
        src_keys = {s.id: snapshot_key(s) for s in src_snaps}
        mover: _SameIds | _Translated = (_Translated if result.translated else _SameIds)(src, dst, result, tracker)
        for snap in sorted({s.id: s for s in chosen}.values(), key=lambda s: (s.time, s.id)):
            key = snapshot_key(snap)
            if key in present:
                result.skipped[snap.id] = present[key]
                continue
            tracker.update(force=True, phase=f"snapshot {snap.short_id}")
            tree = mover.tree(snap.tree)
            dst.flush()
            parent = present.get(src_keys.get(snap.parent or "", ""))
            copy = Snapshot(
                time=snap.time, tree=tree, paths=list(snap.paths), hostname=snap.hostname, username=snap.username,
                tags=list(snap.tags), type=snap.type, parent=parent, site=snap.site, sources=list(snap.sources),
                summary=dict(snap.summary), program_version=snap.program_version, original=key,
            )
            present[key] = dst.save_snapshot(copy)
            result.copied[snap.id] = present[key]
        tracker.update(force=True, phase="log stream")
        logs = copy_log_segments(src, dst)
        result.log_segments_copied, result.log_segments_skipped = logs.copied, logs.skipped
        if result.copied:
            tracker.update(force=True, phase="verify")
            verify_written(dst, result.copied.values())
    tracker.finish()
    return result


# --- after a site backup -----------------------------------------------------------------


@dataclass
class CopyOutcome:
    """One destination's result: ``status`` is ``ok`` or ``error`` (with ``error`` saying why)."""

    repository: str
    snapshot: str
    status: str
    copied_snapshot: str | None = None
    bytes_sent: int = 0
    error: str = ""
    time: str = ""
    duration: float = 0.0
    source: str = ""
    site: str | None = None
    caught_up: list[str] = field(default_factory=list)  # earlier snapshots this copy also brought over

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def copy_after_backup(
    src: Repository,
    cfg: SiteConfig,
    snapshot_id: str,
    *,
    source_url: str,
    passwords: Sequence[PasswordSource],
    sink: ProgressSink = NULL_SINK,
) -> list[CopyOutcome]:
    """Copy ``snapshot_id``, and every other snapshot of the site a destination lacks, to every other
    repository with ``copy_after_backup = true``.

    Catching up makes a copy that was killed or failed before complete now.

    Never raises for a destination's failure: each outcome records ``ok`` or
    the error (:func:`raise_for_failed_copies` turns them into one error).
    Each destination opens with its own configured password, else the first
    of ``passwords`` that has one (:func:`~sitesnap.engine.opening.open_target`).
    Outcomes are also appended to ``<state_dir>/copies.jsonl`` so
    ``snapshots`` can show them.
    """
    source_name = next((r.name for r in cfg.repositories if r.url == source_url), source_url)
    site_snapshots = [s.id for s in src.load_snapshots() if s.site in (None, cfg.site.name)]
    refs = sorted(set(site_snapshots) | {snapshot_id})
    outcomes: list[CopyOutcome] = []
    for repo_cfg in cfg.repositories:
        if not repo_cfg.copy_after_backup or repo_cfg.url == source_url:
            continue
        started = time.monotonic()
        outcome = CopyOutcome(repo_cfg.name, snapshot_id, "ok", time=datetime.now(UTC).isoformat(),
                              source=source_name, site=cfg.site.name)
        try:
            dst = open_target(target_of(repo_cfg), passwords)
            try:
                res = copy_snapshots(src, dst, refs, sink=sink)
            finally:
                dst.close()
            outcome.copied_snapshot = res.copied.get(snapshot_id) or res.skipped.get(snapshot_id)
            outcome.bytes_sent = res.bytes_sent
            outcome.caught_up = sorted(set(res.copied) - {snapshot_id})
        except SitesnapError as exc:
            outcome.status, outcome.error = "error", exc.message
        except Exception as exc:  # a failed copy must not fail the backup; it is recorded
            outcome.status, outcome.error = "error", f"{type(exc).__name__}: {exc}"
        outcome.duration = round(time.monotonic() - started, 3)
        outcomes.append(outcome)
    if outcomes:
        record_outcomes(cfg.runtime.state_dir, outcomes)
    return outcomes


def raise_for_failed_copies(outcomes: Sequence[CopyOutcome], snapshot_id: str) -> None:
    """Raise :class:`CopyFailed` naming every destination whose copy of ``snapshot_id`` failed."""
    failed = [o for o in outcomes if o.status != "ok"]
    if failed:
        names = "; ".join(f"{o.repository}: {o.error}" for o in failed)
        raise CopyFailed(f"snapshot {snapshot_id[:8]} was saved, but copying it failed ({names})")


def record_outcomes(state_dir: Path, outcomes: list[CopyOutcome]) -> None:
    """Append outcomes to ``<state_dir>/copies.jsonl`` (one JSON object per line)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    with open(state_dir / COPIES_FILE, "a", encoding="utf-8") as fh:
        for o in outcomes:
            fh.write(json.dumps(o.to_json(), sort_keys=True) + "\n")


def load_copy_status(state_dir: Path) -> dict[str, dict[str, dict[str, Any]]]:
    """Source snapshot ID -> repository name -> its latest recorded outcome.  Unreadable lines are skipped."""
    path = state_dir / COPIES_FILE
    out: dict[str, dict[str, dict[str, Any]]] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return out
    for line in lines:
        try:
            rec = json.loads(line)
            out.setdefault(str(rec["snapshot"]), {})[str(rec["repository"])] = rec
        except (ValueError, KeyError, TypeError):
            continue
    return out


def init_with_params_of(
    src: Repository,
    url: str,
    password: str,
    options: dict[str, Any] | None = None,
    *,
    kdf: dict[str, Any] | None = None,
) -> Repository:
    """Create a repository at ``url`` sharing ``src``'s chunker parameters and blob ID key.

    Its encryption key is fresh, so neither repository's password opens the
    other; copies between them keep blob IDs and move only missing blobs.
    """
    storage = open_storage_of(url_target(url, options))
    try:
        return Repository.init(storage, password, kdf=kdf, chunker=src.config.chunker,
                               compression=src.config.compression, id_key=src.master.id_key,
                               dump_chunker=src.config.stream_chunker)
    except BaseException:
        storage.close()
        raise
