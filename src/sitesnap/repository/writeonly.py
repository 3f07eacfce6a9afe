"""Write-only keys: what a backup host needs to add snapshots it can never read back.

A write-only key file (kept on the host, never in the repository) holds:

- ``id_key``: blob IDs, so the host deduplicates against what it can see;
- ``index_key``: reads and writes index files and locks (version 2
  envelopes), which reveal only keyed blob IDs, sizes and pack names;
- ``public_key``: the repository's X25519 public key, to which every new
  blob, pack header and snapshot is sealed;
- the chunker parameters and compression level (normally read from the
  encrypted ``config``, which the host cannot open).

The matching private key and the index key are derived from the master key
with HKDF (``MasterKey.private_key``, ``MasterKey.index_key``), so the
password holder always has them and nothing new needs guarding.

``writeonly/<id>`` objects in the repository are *markers*, plaintext JSON
``{"version": 1, "public_key": b64, "created": iso, "label": str}``: their
presence tells password holders to write index files and locks the host can
read, and a host refuses to open a repository that has no marker for its
public key (deleting the marker retires the host's key).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sitesnap.errors import IntegrityError, StorageError, UsageError
from sitesnap.format.chunker import ChunkerParams
from sitesnap.format.crypto import MasterKey, content_id, storage_id
from sitesnap.storage.base import Storage

__all__ = ["MARKERS_PREFIX", "WriteOnlyKey", "has_markers", "marker_public_keys", "write_marker"]

MARKERS_PREFIX = "writeonly/"
KEY_FILE_TYPE = "sitesnap write-only key"


@dataclass(frozen=True)
class WriteOnlyKey:
    """The secret of a write-only host; see the module docstring.  ``repr`` hides the keys."""

    repository_id: str
    id_key: bytes
    index_key: bytes
    public_key: bytes
    chunker: ChunkerParams
    dump_chunker: ChunkerParams | None
    compression: int

    @classmethod
    def from_master(
        cls,
        master: MasterKey,
        repository_id: str,
        chunker: ChunkerParams,
        dump_chunker: ChunkerParams | None,
        compression: int,
    ) -> WriteOnlyKey:
        return cls(repository_id, master.id_key, master.index_key, master.public_key, chunker, dump_chunker,
                   compression)

    def content_id(self, data: bytes | memoryview) -> bytes:
        return content_id(self.id_key, data)

    def to_bytes(self) -> bytes:
        doc: dict[str, Any] = {
            "type": KEY_FILE_TYPE,
            "version": 1,
            "repository": self.repository_id,
            "id_key": base64.b64encode(self.id_key).decode(),
            "index_key": base64.b64encode(self.index_key).decode(),
            "public_key": base64.b64encode(self.public_key).decode(),
            "chunker": self.chunker.to_dict(),
            "compression": self.compression,
        }
        if self.dump_chunker is not None:
            doc["dump_chunker"] = self.dump_chunker.to_dict()
        return json.dumps(doc, indent=1, sort_keys=True).encode() + b"\n"

    @classmethod
    def from_bytes(cls, raw: bytes, where: str) -> WriteOnlyKey:
        """Parse a key file; UsageError (naming ``where``) for anything else."""
        try:
            doc = json.loads(raw)
            if not isinstance(doc, dict) or doc.get("type") != KEY_FILE_TYPE:
                raise ValueError("not a write-only key file")
            if doc.get("version") != 1:
                raise ValueError(f"unsupported version {doc.get('version')!r}")
            keys = [base64.b64decode(doc[name], validate=True) for name in ("id_key", "index_key", "public_key")]
            if any(len(k) != 32 for k in keys):
                raise ValueError("a key has the wrong length")
            return cls(
                str(doc["repository"]),
                keys[0],
                keys[1],
                keys[2],
                ChunkerParams.from_dict(doc["chunker"]),
                ChunkerParams.from_dict(doc["dump_chunker"]) if "dump_chunker" in doc else None,
                int(doc.get("compression", 3)),
            )
        except (ValueError, KeyError, TypeError, OverflowError) as exc:
            raise UsageError(f"{where}: not a usable write-only key file ({exc})") from None

    def __repr__(self) -> str:
        return f"WriteOnlyKey(repository={self.repository_id[:8]}, <secret>)"


def write_marker(storage: Storage, public_key: bytes, label: str = "") -> str:
    """Record in the repository that write-only hosts with ``public_key`` exist; returns the marker id.

    Idempotent for one public key: an existing marker is kept.
    """
    encoded = base64.b64encode(public_key).decode()
    for marker_id, key in _markers(storage):
        if key == encoded:
            return marker_id
    raw = json.dumps({"version": 1, "public_key": encoded, "created": datetime.now(UTC).isoformat(),
                      "label": label}, indent=1).encode()
    marker_id = storage_id(raw)
    storage.write(MARKERS_PREFIX + marker_id, raw, exclusive=True)
    return marker_id


def has_markers(storage: Storage) -> bool:
    """Whether any write-only marker exists (one list request, no reads)."""
    return any(".tmp" not in info.name for info in storage.list(MARKERS_PREFIX))


def marker_public_keys(storage: Storage) -> set[bytes]:
    """The public keys named by markers whose content matches their name."""
    return {base64.b64decode(key) for _, key in _markers(storage)}


def _markers(storage: Storage) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for info in storage.list(MARKERS_PREFIX):
        marker_id = info.name[len(MARKERS_PREFIX):]
        if "/" in marker_id or ".tmp" in marker_id:
            continue
        try:
            raw = storage.read(info.name)
            if storage_id(raw) != marker_id:
                raise IntegrityError(f"write-only marker {marker_id[:8]} does not match its name (damaged)")
            out.append((marker_id, str(json.loads(raw)["public_key"])))
        except (StorageError, IntegrityError, ValueError, KeyError, TypeError):
            continue
    return out
