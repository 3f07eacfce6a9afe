"""Repository verification: structure always, every byte with ``read_data``.

Structure: config, every key file, every index and snapshot (names match
content, authentication), every tree reachable from a snapshot, every data
blob a tree references is indexed, every indexed pack exists with a size
that fits its blobs.  ``read_data`` also reads every pack (or a subset),
checks its name against its content, its header against the index, and
decrypts and hash-checks every blob.

Key generations (docs/format/v1.md section 14): the config must open with
the current key alone and, in format 2, a keyring of its generation must
open; keyrings, key slots and write-only markers left by an interrupted
rotation are warnings, not errors (nothing reads them).  While older keys
are kept, a warning says how many of the objects read were sealed with them.

Problems are collected, not raised, so one run names all the damage.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sitesnap.errors import IntegrityError, ObjectNotFound, StorageError
from sitesnap.format.blob import DATA, decode_blob, type_name
from sitesnap.format.crypto import older_opened, storage_id
from sitesnap.format.envelope import KIND_CONFIG, open_envelope
from sitesnap.format.pack import split_pack_tail
from sitesnap.progress import NULL_SINK, ProgressSink, Tracker
from sitesnap.repository import keyring, writeonly
from sitesnap.repository import keys as keyfiles
from sitesnap.repository.config import CONFIG_NAME, DATA_PREFIX, KEY_GENERATIONS_FORMAT, pack_name
from sitesnap.repository.logcheck import check_log_segments
from sitesnap.repository.repository import Repository

__all__ = ["CheckReport", "check_repository"]


@dataclass
class CheckReport:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    snapshots: int = 0
    trees: int = 0
    packs: int = 0
    packs_read: int = 0
    blobs_read: int = 0
    bytes_read: int = 0
    damaged_snapshots: list[str] = field(default_factory=list)
    damaged_packs: list[str] = field(default_factory=list)
    key_generation: int = 0
    older_keys: int = 0
    older_sealed: int = 0  # objects read that only an older key generation opened

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "errors": self.errors,
            "warnings": self.warnings,
            "snapshots": self.snapshots,
            "trees": self.trees,
            "packs": self.packs,
            "packs_read": self.packs_read,
            "blobs_read": self.blobs_read,
            "bytes_read": self.bytes_read,
            "damaged_snapshots": self.damaged_snapshots,
            "damaged_packs": self.damaged_packs,
            "key_generation": self.key_generation,
            "older_keys": self.older_keys,
            "older_sealed": self.older_sealed,
        }


def parse_subset(spec: str | None) -> float | None:
    """``10%`` -> 0.1; ``1/5`` -> 0.2; None -> None (all)."""
    if not spec:
        return None
    text = spec.strip()
    try:
        if text.endswith("%"):
            value = float(text[:-1]) / 100
        elif "/" in text:
            num, den = text.split("/", 1)
            value = int(num) / int(den)
        else:
            value = float(text)
    except (ValueError, ZeroDivisionError):
        from sitesnap.errors import UsageError

        raise UsageError(f"--read-data-subset: cannot parse {spec!r} (use 10% or 1/10)") from None
    if not 0 < value <= 1:
        from sitesnap.errors import UsageError

        raise UsageError(f"--read-data-subset must be between 0 and 100%, got {spec!r}")
    return value


def check_repository(
    repo: Repository,
    *,
    read_data: bool = False,
    subset: float | None = None,
    sink: ProgressSink = NULL_SINK,
    seed: int | None = None,
) -> CheckReport:
    repo.require_read("check")
    report = CheckReport()
    tracker = Tracker("check", sink)
    openers = (repo.aead, repo.index_aead, repo.master.private_key)
    opened_before = older_opened(*openers)
    _check_config_and_keys(repo, report)
    _check_generations(repo, report)
    tracker.update(force=True, phase="index")
    for index_id in repo.load_index(strict=False):
        report.errors.append(f"index {index_id}: damaged or unreadable")
    packs = repo.index.packs()
    report.packs = len(packs)
    tracker.update(force=True, phase="packs")
    unreferenced = _check_pack_sizes(repo, packs, report)
    tracker.update(force=True, phase="snapshots")
    snapshots = repo.load_snapshots(on_error=lambda sid, exc: _bad_snapshot(report, sid, exc))
    report.snapshots = len(snapshots)
    tracker.update(force=True, phase="trees")
    _check_trees(repo, snapshots, report)
    log_errors, log_warnings = check_log_segments(repo)
    report.errors += log_errors
    report.warnings += log_warnings
    if read_data:
        chosen = sorted(packs)
        if subset is not None:
            rng = random.Random(seed)
            chosen = sorted(rng.sample(chosen, max(1, round(len(chosen) * subset)))) if chosen else []
        tracker.update(force=True, phase="read-data", bytes_total=sum(_pack_extent(packs[p]) for p in chosen))
        _read_packs(repo, packs, chosen, report, tracker)
        if subset is None:
            _check_unreferenced_names(repo, unreferenced, report)
    report.older_sealed = older_opened(*openers) - opened_before
    if report.older_keys:
        report.warnings.append(
            f"key generation {report.key_generation} keeps {report.older_keys} older master key(s): "
            f"{report.older_sealed} of the objects read were sealed with them"
            + ("" if read_data else " (data packs not read)")
            + "; 'sitesnap key reencrypt' rewrites them and drops the older keys"
        )
    tracker.finish()
    return report


def _bad_snapshot(report: CheckReport, sid: str, exc: Exception) -> None:
    report.errors.append(f"snapshot {sid}: {exc}")
    report.damaged_snapshots.append(sid)


def _check_config_and_keys(repo: Repository, report: CheckReport) -> None:
    try:
        open_envelope(repo.master.current.aead(), repo.storage.read(CONFIG_NAME), KIND_CONFIG, "config")
    except (IntegrityError, StorageError) as exc:
        report.errors.append(f"config: {exc}")
    for key_id in keyfiles.key_ids(repo.storage):
        try:
            raw = repo.storage.read(keyfiles.KEYS_PREFIX + key_id)
        except StorageError as exc:
            report.errors.append(f"key {key_id}: {exc}")
            continue
        if storage_id(raw) != key_id:
            report.errors.append(f"key {key_id}: content does not match its name (damaged)")


def _check_generations(repo: Repository, report: CheckReport) -> None:
    """The keyring in force, and what an interrupted rotation or re-encryption left behind."""
    config = repo.config
    current = repo.master.current
    report.key_generation = config.key_generation
    report.older_keys = len(repo.master.older)
    try:
        scan = keyring.scan_keyrings(repo.storage, current, config.key_generation)
    except StorageError as exc:
        report.errors.append(f"keyring: cannot list ({exc})")
        return
    for keyring_id in scan.damaged:
        report.errors.append(f"keyring {keyring_id}: damaged (content does not match its name, or malformed)")
    if config.version >= KEY_GENERATIONS_FORMAT and scan.chosen is None:
        report.errors.append(
            f"keyring: none of generation {config.key_generation} opens with the current key; "
            "what older keys sealed cannot be read"
        )
    for keyring_id in scan.leftovers:
        report.warnings.append(f"keyring {keyring_id}: left by an interrupted rotation or re-encryption "
                               "(not used; 'sitesnap key reencrypt' removes it)")
    present = set(keyfiles.key_ids(repo.storage))
    for key_id in sorted(present.intersection(config.retired_slots)):
        report.warnings.append(f"key {key_id}: wraps a retired master key (left by an interrupted rotation); "
                               f"remove it with 'sitesnap key remove {key_id[:8]}'")
    if config.version >= KEY_GENERATIONS_FORMAT:
        for public_key in writeonly.marker_public_keys(repo.storage) - {current.public_key}:
            report.warnings.append(
                f"write-only key {public_key.hex()[:16]}: belongs to a retired master key (left by an interrupted "
                "rotation); 'sitesnap key rotate' removes it, or delete its writeonly/ marker"
            )


def _pack_extent(entries: list[Any]) -> int:
    return max((e.offset + e.length for e in entries), default=0)


def _check_pack_sizes(repo: Repository, packs: dict[bytes, list[Any]], report: CheckReport) -> list[str]:
    """Errors for missing or short packs; returns the names of packs no index references."""
    sizes = {info.name: info.size for info in repo.storage.list(DATA_PREFIX)}
    for pack_id, entries in packs.items():
        name = pack_name(pack_id)
        size = sizes.get(name)
        if size is None:
            report.errors.append(f"pack {pack_id.hex()}: missing (referenced by the index)")
            report.damaged_packs.append(pack_id.hex())
        elif size < _pack_extent(entries) + 4 + 6 + 12 + 16:
            report.errors.append(f"pack {pack_id.hex()}: truncated ({size} bytes)")
            report.damaged_packs.append(pack_id.hex())
    indexed = {pack_name(p) for p in packs}
    unreferenced = [name for name in sizes if name not in indexed and ".tmp" not in name]
    if unreferenced:
        # Leftovers of an interrupted or failed backup: one line, however many packs.
        size = sum(sizes[name] for name in unreferenced)
        report.warnings.append(
            f"{len(unreferenced)} pack(s) ({size} bytes) not referenced by any index, left by an interrupted "
            "backup (prune removes them)"
        )
    return unreferenced


def _check_unreferenced_names(repo: Repository, names: list[str], report: CheckReport) -> None:
    """An unreferenced pack is harmless, but one whose content does not match its name is damage."""
    for name in names:
        hex_id = name.rsplit("/", 1)[-1]
        try:
            raw = repo.storage.read(name)
        except StorageError as exc:
            report.errors.append(f"pack {hex_id}: cannot read ({exc})")
            continue
        if storage_id(raw) != hex_id or name != pack_name(hex_id):
            report.errors.append(f"pack {hex_id}: content does not match its name (damaged or misplaced copy)")
            report.damaged_packs.append(hex_id)


def _walk_trees(repo: Repository, root: bytes, seen: set[bytes], report: CheckReport, where: str) -> Iterator[bytes]:
    stack = [root]
    while stack:
        tree_id = stack.pop()
        if tree_id in seen:
            continue
        seen.add(tree_id)
        try:
            nodes = repo.load_tree(tree_id)
        except IntegrityError as exc:
            report.errors.append(f"tree {tree_id.hex()} ({where}): {exc}")
            yield tree_id
            continue
        report.trees += 1
        for node in nodes:
            if node.type == "dir":
                if node.subtree is None:
                    report.errors.append(
                        f"tree {tree_id.hex()} ({where}): directory {node.display_name} has no subtree"
                    )
                else:
                    stack.append(node.subtree)
            elif node.type == "file":
                for blob_id in node.content:
                    if not repo.index.has(DATA, blob_id):
                        report.errors.append(
                            f"data blob {blob_id.hex()} of {node.display_name} ({where}): not in the index (missing)"
                        )
                        yield tree_id


def _check_trees(repo: Repository, snapshots: list[Any], report: CheckReport) -> None:
    seen: set[bytes] = set()
    for snap in snapshots:
        bad = list(_walk_trees(repo, snap.tree, seen, report, f"snapshot {snap.short_id}"))
        if bad and snap.id not in report.damaged_snapshots:
            report.damaged_snapshots.append(snap.id)


def _read_packs(
    repo: Repository, packs: dict[bytes, list[Any]], chosen: list[bytes], report: CheckReport, tracker: Tracker
) -> None:
    def verify(pack_id: bytes) -> tuple[bytes, list[str], int, int]:
        problems: list[str] = []
        hex_id = pack_id.hex()
        try:
            raw = repo.storage.read(pack_name(pack_id))
        except ObjectNotFound:
            return pack_id, [f"pack {hex_id}: missing"], 0, 0
        except StorageError as exc:
            return pack_id, [f"pack {hex_id}: cannot read ({exc})"], 0, 0
        if storage_id(raw) != hex_id:
            problems.append(f"pack {hex_id}: content does not match its name (damaged)")
        blobs = 0
        try:
            header_len = split_pack_tail(raw[-4:], len(raw), f"pack {hex_id}")
            header_off = len(raw) - 4 - header_len
            entries = repo.decode_pack_header(raw[header_off:-4], header_off, f"pack {hex_id}")
            indexed = {(e.type, e.id, e.offset, e.length) for e in packs[pack_id]}
            in_header = {(e.type, e.id, e.offset, e.length) for e in entries}
            if not indexed <= in_header:
                problems.append(f"pack {hex_id}: header disagrees with the index")
        except IntegrityError as exc:
            problems.append(str(exc.message))
        for e in packs[pack_id]:
            try:
                decode_blob(repo.master, repo.aead, e.type, e.id, raw[e.offset : e.offset + e.length], e.plain_size,
                            write_only=e.write_only)
                blobs += 1
            except IntegrityError as exc:
                problems.append(f"pack {hex_id}: {type_name(e.type)} blob {e.id.hex()}: {exc.message}")
        return pack_id, problems, len(raw), blobs

    with ThreadPoolExecutor(max_workers=2) as pool:
        for pack_id, problems, size, blobs in pool.map(verify, chosen):
            report.packs_read += 1
            report.bytes_read += size
            report.blobs_read += blobs
            if problems:
                report.errors.extend(problems)
                report.damaged_packs.append(pack_id.hex())
            tracker.update(bytes_done=size)


