"""``key rotate``: a new master key for everything written from now on (docs/format/v1.md section 14).

The new master key has a fresh encryption key and keeps the blob-ID key, so
blob IDs, deduplication and the chunker stay and the next backup stores
only new data.  The previous key joins the older generations in a new
keyring, sealed with the new key, so what it sealed stays readable until
``key reencrypt`` rewrites it.

Write order, under an exclusive lock (a crash anywhere is harmless):

1. ``keyring/<id>``: the new generation's keyring (previous older keys + the current one);
2. a key slot wrapping the new key for the caller's password (or the new password);
3. ``config`` re-sealed with the new key, format 2, ``key_generation`` + 1 and the
   slots that wrapped the old key (``retired_slots``): **the commit point**.
   Before it, readers use the old key and ignore the keyring and slot of step 1-2
   (neither opens with it); after it, the new key is current;
4. every other key slot, every other keyring and every write-only marker is deleted
   (they belong to the old key).  Deletes are idempotent; ``check`` names what a
   crash here leaves, and the next ``key rotate`` removes it.

Refused (before anything is written) on a write-only host, and on append-only
storage, which could neither overwrite ``config`` nor delete the old slots.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sitesnap.errors import RepositoryLocked, SitesnapError, StorageError
from sitesnap.format.crypto import MasterKey
from sitesnap.format.envelope import KIND_CONFIG, encode_json, seal_envelope
from sitesnap.repository import keyring, writeonly
from sitesnap.repository import keys as keyfiles
from sitesnap.repository.config import CONFIG_NAME, KEY_GENERATIONS_FORMAT
from sitesnap.repository.lock import RepoLock
from sitesnap.repository.prune import ensure_deletable
from sitesnap.repository.repository import Repository
from sitesnap.storage.base import Storage

__all__ = ["MarkerInfo", "RotationPlan", "RotationResult", "plan_rotate", "write_only_markers"]


@dataclass(frozen=True)
class MarkerInfo:
    """A write-only key's marker (``writeonly/<id>``), as ``key rotate`` reports it."""

    id: str
    label: str
    created: str

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def write_only_markers(storage: Storage) -> list[MarkerInfo]:
    """Every marker object, damaged ones included (they are removed all the same)."""
    out: list[MarkerInfo] = []
    for info in storage.list(writeonly.MARKERS_PREFIX):
        marker_id = info.name[len(writeonly.MARKERS_PREFIX):]
        if "/" in marker_id or ".tmp" in marker_id:
            continue
        try:
            doc = json.loads(storage.read(info.name))
            out.append(MarkerInfo(marker_id, str(doc.get("label", "")), str(doc.get("created", ""))))
        except (StorageError, ValueError, AttributeError):
            out.append(MarkerInfo(marker_id, "(unreadable)", ""))
    return sorted(out, key=lambda m: m.id)


def _slot_json(info: keyfiles.KeyInfo) -> dict[str, Any]:
    return {"id": info.id, "label": info.label, "created": info.created}


@dataclass
class RotationResult:
    generation: int
    key_id: str
    older_generations: int
    removed_slots: list[keyfiles.KeyInfo] = field(default_factory=list)
    removed_write_only: list[MarkerInfo] = field(default_factory=list)
    removed_keyrings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "generation": self.generation,
            "key_id": self.key_id,
            "older_generations": self.older_generations,
            "removed_slots": [_slot_json(s) for s in self.removed_slots],
            "removed_write_only": [m.to_json() for m in self.removed_write_only],
            "removed_keyrings": self.removed_keyrings,
        }


@dataclass
class RotationPlan:
    """What ``key rotate`` will remove; ``execute()`` rotates.  Built by :func:`plan_rotate`."""

    repo: Repository
    generation: int
    slots: list[keyfiles.KeyInfo]
    write_only: list[MarkerInfo]
    result: RotationResult | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "generation": self.generation,
            "slots_to_remove": [_slot_json(s) for s in self.slots],
            "write_only_to_remove": [m.to_json() for m in self.write_only],
            "result": self.result.to_json() if self.result else None,
        }

    def execute(self, password: str, *, new_password: str | None = None) -> RotationResult:
        """Rotate in the order of the module docstring; the new slot opens with ``new_password`` or ``password``.

        Takes an exclusive lock.  Raises AppendOnlyError before writing on
        append-only storage.  After the commit point the repository object
        uses the new key.
        """
        repo = self.repo
        repo.require_read("rotating the master key")
        ensure_deletable(repo, "key rotate")
        with repo.lock(exclusive=True, operation="key rotate") as held:
            self.result = _rotate(repo, new_password or password, held)
        return self.result


def plan_rotate(repo: Repository) -> RotationPlan:
    """What a rotation would remove (every key slot but the new one, every write-only key).  Changes nothing."""
    repo.require_read("rotating the master key")
    return RotationPlan(repo, repo.config.key_generation + 1, keyfiles.list_keys(repo.storage, skip_damaged=True),
                        write_only_markers(repo.storage))


def _rotate(repo: Repository, password: str, held: RepoLock) -> RotationResult:
    storage = repo.storage
    old = repo.master
    generation = repo.config.key_generation + 1
    new = MasterKey(os.urandom(32), old.id_key)
    older = (old.current, *old.older)
    slots = keyfiles.list_keys(storage, skip_damaged=True)
    markers = write_only_markers(storage)
    kdf = keyfiles.slot_kdf(storage, repo.key_id)
    keyring_id = keyring.write_keyring(storage, new, repo.compressor, generation, older)
    label = f"rotated {datetime.now(UTC).date().isoformat()}"
    key_id = keyfiles.add_key(storage, new, password, kdf=kdf, label=label)
    config = dataclasses.replace(repo.config, version=KEY_GENERATIONS_FORMAT, key_generation=generation,
                                 retired_slots=tuple(s.id for s in slots))
    if held.lost is not None:
        raise RepositoryLocked(f"the exclusive lock could not be refreshed ({held.lost}); the key was not rotated")
    storage.write(CONFIG_NAME, seal_envelope(new.aead(), repo.compressor, KIND_CONFIG, encode_json(config.to_json())))
    repo.adopt_master(new.with_older(older), config, key_id)
    result = RotationResult(generation, key_id, len(older))
    try:
        _remove_retired(storage, key_id, keyring_id, {s.id: s for s in slots}, result)
    except SitesnapError as exc:
        raise StorageError(
            f"the master key was rotated (generation {generation}), but removing what belonged to the old key "
            f"failed: {exc.message}",
            hint="Run 'sitesnap check' to see what is left, and 'sitesnap key rotate' again to remove it.",
        ) from exc
    result.removed_write_only = markers
    repo.shared_index = writeonly.has_markers(storage)
    return result


def _remove_retired(
    storage: Storage, key_id: str, keyring_id: str, known: dict[str, keyfiles.KeyInfo], result: RotationResult
) -> None:
    """Step 4: every slot but the new one, every other keyring, every write-only marker."""
    for other in keyfiles.key_ids(storage):
        if other != key_id:
            storage.delete(keyfiles.KEYS_PREFIX + other)
            result.removed_slots.append(known.get(other) or keyfiles.KeyInfo(other, "", "", "", "", ""))
    for other in keyring.keyring_ids(storage):
        if other != keyring_id:
            storage.delete(keyring.KEYRING_PREFIX + other)
            result.removed_keyrings.append(other)
    for marker in write_only_markers(storage):
        storage.delete(writeonly.MARKERS_PREFIX + marker.id)
