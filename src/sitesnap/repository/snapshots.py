"""Snapshots under ``snapshots/``: save, list, load, find by reference, delete.

A snapshot object is named by the storage ID of its sealed bytes, so a
damaged one is detected before it is opened.  Thread-safe.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from sitesnap import __version__
from sitesnap.errors import IntegrityError, ObjectNotFound, SnapshotNotFound, UsageError
from sitesnap.format.compress import Compressor
from sitesnap.format.crypto import storage_id
from sitesnap.format.envelope import decode_json, encode_json
from sitesnap.format.snapshot import Snapshot
from sitesnap.repository.config import SNAPSHOTS_PREFIX, list_ids
from sitesnap.repository.sealer import Sealer
from sitesnap.storage.base import Storage

__all__ = ["SnapshotStore"]


class SnapshotStore:
    """The snapshot objects of one repository, sealed and opened by ``sealer``."""

    def __init__(self, storage: Storage, sealer: Sealer, compressor: Compressor) -> None:
        self.storage = storage
        self.sealer = sealer
        self.compressor = compressor

    def save(self, snap: Snapshot) -> str:
        """Write ``snap`` (setting its ``id`` and, if unset, ``program_version``); returns the ID."""
        snap.program_version = snap.program_version or __version__
        raw = self.sealer.seal_snapshot(self.compressor, encode_json(snap.to_json()))
        snap.id = storage_id(raw)
        self.storage.write(SNAPSHOTS_PREFIX + snap.id, raw)
        return snap.id

    def ids(self) -> list[str]:
        return list_ids(self.storage, SNAPSHOTS_PREFIX)

    def load(self, snapshot_id: str) -> Snapshot:
        self.sealer.require_read("reading snapshots")
        what = f"snapshot {snapshot_id[:8]}"
        try:
            raw = self.storage.read(SNAPSHOTS_PREFIX + snapshot_id)
        except ObjectNotFound:
            raise SnapshotNotFound(snapshot_id) from None
        if storage_id(raw) != snapshot_id:
            raise IntegrityError(f"{what} does not match its name (damaged)")
        return Snapshot.from_json(decode_json(self.sealer.open_snapshot(raw, what), what), snapshot_id)

    def load_all(self, *, on_error: Callable[[str, Exception], None] | None = None) -> list[Snapshot]:
        """All snapshots, oldest first.  Damaged ones raise unless ``on_error`` is given."""
        self.sealer.require_read("reading snapshots")
        ids = self.ids()

        def fetch(sid: str) -> Snapshot | Exception:
            try:
                return self.load(sid)
            except IntegrityError as exc:
                return exc

        out: list[Snapshot] = []
        with ThreadPoolExecutor(max_workers=8) as pool:
            for sid, res in zip(ids, pool.map(fetch, ids), strict=True):
                if isinstance(res, Exception):
                    if on_error is None:
                        raise res
                    on_error(sid, res)
                else:
                    out.append(res)
        out.sort(key=lambda s: (s.time, s.id))
        return out

    def find(self, ref: str, snapshots: list[Snapshot] | None = None) -> Snapshot:
        """Resolve ``latest``, a full ID or a unique prefix (at least 4 hex digits)."""
        self.sealer.require_read("reading snapshots")
        if ref == "latest":
            snaps = snapshots if snapshots is not None else self.load_all()
            if not snaps:
                raise SnapshotNotFound("latest", hint="The repository has no snapshots yet.")
            return snaps[-1]
        if len(ref) < 4:
            raise UsageError(f"snapshot ID {ref!r} is too short; give at least 4 hex digits")
        matches = [s for s in self.ids() if s.startswith(ref.lower())]
        if not matches:
            raise SnapshotNotFound(ref)
        if len(matches) > 1:
            raise UsageError(f"snapshot ID prefix {ref!r} is ambiguous ({len(matches)} matches)")
        return self.load(matches[0])

    def delete(self, snapshot_id: str) -> None:
        self.sealer.require_read("deleting snapshots")
        self.storage.delete(SNAPSHOTS_PREFIX + snapshot_id)
