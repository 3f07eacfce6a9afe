"""The repository's layout and its ``config`` object (docs/format/v1.md).

Where every kind of object lives (``config``, ``keys/``, ``index/``,
``data/``, ``snapshots/``, ``locks/``), the size targets for packs and index
files, the format versions this code reads, and :class:`RepoConfig`, the
decrypted content of ``config``.  Pure data and naming: no IO beyond the
listing helper :func:`list_ids`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sitesnap.errors import FormatVersionError, IntegrityError
from sitesnap.format.chunker import ChunkerParams
from sitesnap.format.envelope import FORMAT_VERSION
from sitesnap.ids import new_random_id
from sitesnap.storage.base import Storage

__all__ = [
    "CONFIG_NAME",
    "DATA_PREFIX",
    "DUMP_COMPRESSION",
    "INDEX_PREFIX",
    "KEY_GENERATIONS_FORMAT",
    "PACKS_PER_INDEX",
    "PACK_TARGET",
    "READABLE_FORMATS",
    "READ_SPAN",
    "SNAPSHOTS_PREFIX",
    "RepoConfig",
    "list_ids",
    "new_config",
    "pack_name",
    "require_format",
]

CONFIG_NAME = "config"
INDEX_PREFIX = "index/"
SNAPSHOTS_PREFIX = "snapshots/"
DATA_PREFIX = "data/"
PACK_TARGET = 16 << 20
PACKS_PER_INDEX = 64
READ_SPAN = 8 << 20
# Repository format versions (config's "version"): 1 is written by init, 2 after a key rotation (section 14).
KEY_GENERATIONS_FORMAT = 2
READABLE_FORMATS = (FORMAT_VERSION, KEY_GENERATIONS_FORMAT)
# Database dumps change in scattered rows: each changed row costs a whole chunk, so dump chunks are
# small (8 KiB: a 1 % random-row change adds about 8 % of the dump, docs/performance.md).
DUMP_AVG, DUMP_MIN, DUMP_MAX = 8 << 10, 2 << 10, 32 << 10
# zstd level 1 on chunks that small is 1.8x faster than level 3 and compresses SQL text as well
# (measured on a pg_dump: 452 vs 257 MB/s, ratio 6.07 vs 5.90), so dumps use it.
DUMP_COMPRESSION = 1


def require_format(version: int, readable: tuple[int, ...] = READABLE_FORMATS) -> None:
    """FormatVersionError unless a reader of the ``readable`` formats may read a config of ``version``."""
    if version not in readable:
        raise FormatVersionError(
            f"repository format version {version}, this sitesnap reads {' and '.join(map(str, readable))}"
        )


def pack_name(pack_id: bytes | str) -> str:
    """The storage name of a pack: ``data/<first two hex digits>/<hex id>``."""
    hex_id = pack_id if isinstance(pack_id, str) else pack_id.hex()
    return f"{DATA_PREFIX}{hex_id[:2]}/{hex_id}"


def list_ids(storage: Storage, prefix: str) -> list[str]:
    """The names under ``prefix`` without it, sorted; unfinished uploads (``.tmp``) left out."""
    return sorted(info.name[len(prefix) :] for info in storage.list(prefix) if ".tmp" not in info.name)


@dataclass(frozen=True)
class RepoConfig:
    id: str
    version: int
    created: str
    chunker: ChunkerParams
    compression: int = 3
    dump_chunker: ChunkerParams | None = None
    key_generation: int = 0  # format 2: how many times the master key was rotated
    retired_slots: tuple[str, ...] = ()  # format 2: key slots that wrapped the previous master key
    dump_compression: int | None = None  # zstd level for database dumps; None: ``compression``

    @property
    def stream_chunker(self) -> ChunkerParams:
        """Chunking for database dumps: smaller chunks, so scattered row changes cost little.

        Repositories created before ``dump_chunker`` existed use the file chunker.
        """
        return self.dump_chunker or self.chunker

    @property
    def stream_compression(self) -> int:
        """zstd level for database dumps (``dump_compression``, else ``compression``)."""
        return self.compression if self.dump_compression is None else self.dump_compression

    def to_json(self) -> dict[str, Any]:
        out = {
            "id": self.id,
            "version": self.version,
            "created": self.created,
            "chunker": self.chunker.to_dict(),
            "compression": self.compression,
        }
        if self.dump_chunker is not None:
            out["dump_chunker"] = self.dump_chunker.to_dict()
        if self.dump_compression is not None:
            out["dump_compression"] = self.dump_compression
        if self.version >= KEY_GENERATIONS_FORMAT:
            out["key_generation"] = self.key_generation
            out["retired_slots"] = list(self.retired_slots)
        return out

    @classmethod
    def from_json(cls, data: Any) -> RepoConfig:
        try:
            return cls(
                str(data["id"]),
                int(data["version"]),
                str(data["created"]),
                ChunkerParams.from_dict(data["chunker"]),
                int(data.get("compression", 3)),
                ChunkerParams.from_dict(data["dump_chunker"]) if "dump_chunker" in data else None,
                int(data.get("key_generation", 0)),
                tuple(str(k) for k in data.get("retired_slots", ())),
                dump_compression=int(data["dump_compression"]) if "dump_compression" in data else None,
            )
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise IntegrityError(f"config is malformed ({exc})") from None


def new_config(
    chunker: ChunkerParams | None, compression: int, dump_chunker: ChunkerParams | None
) -> RepoConfig:
    """The config of a new repository: a fresh ID and chunker seed unless ``chunker`` is given.

    Dumps get the small dump chunker (same seed) and at most the dump compression level.
    """
    seed = int.from_bytes(os.urandom(8), "little") & ((1 << 63) - 1)
    params = chunker or ChunkerParams(seed=seed)
    return RepoConfig(
        id=new_random_id(),
        version=FORMAT_VERSION,
        created=datetime.now(UTC).isoformat(),
        chunker=params,
        compression=compression,
        dump_chunker=dump_chunker or ChunkerParams(DUMP_AVG, DUMP_MIN, DUMP_MAX, seed=params.seed),
        dump_compression=min(compression, DUMP_COMPRESSION),
    )
