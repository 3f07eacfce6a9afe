"""Reading many blobs pack by pack: each needed stretch of a pack in one request.

A restore knows up front every blob it needs.  Reading them file by file
costs one open and read (on S3 one GET) per blob; reading them pack by pack
costs one ranged read per *run* of needed blobs: the blobs a caller wants
from one pack are sorted by offset and merged into ranges while the gap
between two needed blobs is at most ``max_gap`` bytes and a range spans at
most ``max_span`` bytes.  :func:`read_limits` picks the span and the bytes
in flight by storage kind: on S3 or SFTP a pack that is wholly needed is
usually one request; on a local disk reads stay small, as they cost no round
trip and memory stays flat.

Every blob is still verified on its own (authenticated, decompressed,
hash-checked) through :func:`sitesnap.format.blob.decode_blob`; a damaged
blob fails alone, a missing or truncated pack fails every blob of the range.

Memory: one range's bytes plus one decoded blob at a time per reader; the
caller bounds the number of ranges in flight.

Thread-safe: the functions keep no state; several ranges can be read at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from sitesnap.errors import IntegrityError, ObjectNotFound
from sitesnap.format.blob import decode_blob, type_name
from sitesnap.format.crypto import Aead, MasterKey
from sitesnap.repository.masterindex import MasterIndex
from sitesnap.storage.base import Storage

__all__ = [
    "MAX_GAP",
    "MAX_SPAN",
    "NeededBlob",
    "PackRange",
    "PackSource",
    "ReadLimits",
    "plan_ranges",
    "read_limits",
    "read_range",
]

MAX_SPAN = 20 << 20
"""Largest single read: a whole pack (16 MiB plus the blob that closed it) is usually one request."""
MAX_GAP = 1 << 20
"""Unneeded bytes read through rather than split into two requests (cheaper than a round trip)."""


@dataclass(frozen=True, slots=True)
class ReadLimits:
    """How large one read may be, and how many bytes of reads may be queued or running at once."""

    max_span: int
    in_flight: int


REMOTE_LIMITS = ReadLimits(max_span=MAX_SPAN, in_flight=2 * MAX_SPAN)
"""A request costs a round trip (S3, SFTP): whole packs, two at a time."""
LIMITS_BY_KIND = {
    # A local read costs no round trip: small reads keep memory flat and still feed both cores.
    "local": ReadLimits(max_span=4 << 20, in_flight=12 << 20),
    "memory": ReadLimits(max_span=4 << 20, in_flight=12 << 20),
}


def read_limits(kind: str) -> ReadLimits:
    """The read limits for a storage kind (``StorageProperties.kind``); remote ones by default."""
    return LIMITS_BY_KIND.get(kind, REMOTE_LIMITS)


class PackSource(Protocol):
    """The parts of :class:`~sitesnap.repository.repository.Repository` a pack reader needs."""

    index: MasterIndex
    storage: Storage

    @property
    def aead(self) -> Aead: ...

    @property
    def master(self) -> MasterKey: ...

    def read_pack_range(self, pack_id: bytes, offset: int, length: int) -> bytes: ...


@dataclass(frozen=True, slots=True)
class NeededBlob:
    """One blob to read: where the index says it is, and how large it is decoded."""

    blob_id: bytes
    offset: int
    length: int
    plain: int


@dataclass(frozen=True, slots=True)
class PackRange:
    """One read: ``[start, end)`` of a pack, holding ``blobs`` (sorted by offset)."""

    pack_id: bytes
    start: int
    end: int
    blobs: tuple[NeededBlob, ...]


def plan_ranges(
    pack_id: bytes, blobs: Iterable[NeededBlob], *, max_gap: int = MAX_GAP, max_span: int = MAX_SPAN
) -> list[PackRange]:
    """Merge one pack's needed blobs into as few reads as the gap and span limits allow.

    A blob larger than ``max_span`` gets a range of its own.  Duplicates are
    read once.
    """
    ranges: list[PackRange] = []
    run: list[NeededBlob] = []
    start = end = 0
    seen: set[bytes] = set()
    for blob in sorted(blobs, key=lambda b: b.offset):
        if blob.blob_id in seen:
            continue
        seen.add(blob.blob_id)
        blob_end = blob.offset + blob.length
        if run and (blob.offset - end > max_gap or max(end, blob_end) - start > max_span):
            ranges.append(PackRange(pack_id, start, end, tuple(run)))
            run = []
        if not run:
            start = blob.offset
            end = blob_end
        end = max(end, blob_end)
        run.append(blob)
    if run:
        ranges.append(PackRange(pack_id, start, end, tuple(run)))
    return ranges


def read_range(
    source: PackSource, rng: PackRange, blob_type: int
) -> Iterator[tuple[NeededBlob, bytes | IntegrityError]]:
    """Read ``rng`` in one request and yield each blob decoded and verified, or the error that blob hit.

    Raises :class:`IntegrityError` when the pack is missing or shorter than
    the range (then no blob of the range is readable).
    """
    what = f"{len(rng.blobs)} {type_name(blob_type)} blob(s)"
    try:
        raw = source.read_pack_range(rng.pack_id, rng.start, rng.end - rng.start)
    except ObjectNotFound:
        raise IntegrityError(f"pack {rng.pack_id.hex()[:16]} holding {what} is missing") from None
    if len(raw) != rng.end - rng.start:
        raise IntegrityError(f"pack {rng.pack_id.hex()[:16]} is truncated")
    view = memoryview(raw)
    master, aead, index = source.master, source.aead, source.index
    for blob in rng.blobs:
        sealed = view[blob.offset - rng.start : blob.offset - rng.start + blob.length]
        try:
            data = decode_blob(master, aead, blob_type, blob.blob_id, sealed, blob.plain,
                               write_only=index.is_write_only(blob_type, blob.blob_id))
        except IntegrityError as exc:
            yield blob, exc
            continue
        yield blob, data
