"""Log segments in the repository: save, load, list, delete (docs/format/v1.md section 15).

A segment is stored at ``logs/<id>`` (``id`` = BLAKE3 of the file) as an
envelope of kind ``G`` around the plaintext of ``format/logseg.py``.  Its
payload (WAL frames, a base copy of the database) is chunked with the
repository's dump chunker and stored as ordinary data blobs, so it is
compressed, encrypted and deduplicated like every dump.

Write order (:func:`save_segment`): the payload's packs, then the index
naming them (``Repository.flush``), then the segment object, which is the
commit point.  A crash before the segment leaves unreferenced blobs that the
next save reuses or ``prune`` removes; a reader never sees a segment whose
blobs are not indexed.

Segments are read-only objects: nothing here rewrites one.  Write-only
repositories are refused (a capture must be able to read its own log to
resume).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import BinaryIO

from sitesnap.errors import IntegrityError, ObjectNotFound
from sitesnap.format.blob import DATA
from sitesnap.format.chunker import Chunker
from sitesnap.format.crypto import storage_id
from sitesnap.format.envelope import open_envelope, seal_envelope
from sitesnap.format.logseg import KIND_LOGSEG, LogSegment, decode_segment, encode_segment
from sitesnap.repository.repository import Repository

__all__ = [
    "LOGS_PREFIX",
    "delete_segment",
    "load_segment",
    "load_segments",
    "read_payload",
    "save_segment",
    "segment_blobs",
    "segment_ids",
]

LOGS_PREFIX = "logs/"


def save_segment(repo: Repository, seg: LogSegment, payload: BinaryIO | bytes) -> str:
    """Store ``payload`` as blobs, flush packs and index, then write ``seg`` (the commit point).

    Fills in ``seg.blobs``, ``seg.payload_size`` and ``seg.id``; returns the ID.
    Not thread-safe with other writers of the same repository object.
    """
    repo.require_read("writing log segments")
    chunker = Chunker(repo.config.stream_chunker)
    views: Iterable[memoryview] = (
        chunker.cut(payload) if isinstance(payload, bytes) else chunker.cut_stream_views(payload)
    )
    blobs: list[bytes] = []
    size = 0
    for view in views:
        blob_id, _added = repo.save_blob(DATA, view, dump=True)
        blobs.append(blob_id)
        size += len(view)
    if seg.commits and seg.commits[-1].payload_end != size:
        raise ValueError(f"the commits end at {seg.commits[-1].payload_end}, the payload has {size} bytes")
    seg.blobs, seg.payload_size = blobs, size
    repo.flush()
    raw = seal_envelope(repo.aead, repo.compressor, KIND_LOGSEG, encode_segment(seg))
    seg.id = storage_id(raw)
    repo.storage.write(LOGS_PREFIX + seg.id, raw)
    return seg.id


def segment_ids(repo: Repository) -> list[str]:
    return repo.list_ids(LOGS_PREFIX)


def load_segment(repo: Repository, segment_id: str) -> LogSegment:
    """One segment, verified against its name; IntegrityError when damaged or missing."""
    repo.require_read("reading log segments")
    what = f"log segment {segment_id[:8]}"
    try:
        raw = repo.storage.read(LOGS_PREFIX + segment_id)
    except ObjectNotFound:
        raise IntegrityError(f"{what} is missing") from None
    if storage_id(raw) != segment_id:
        raise IntegrityError(f"{what} does not match its name (damaged)")
    return decode_segment(open_envelope(repo.aead, raw, KIND_LOGSEG, what), what, segment_id)


def load_segments(
    repo: Repository, source: str | None = None, *, errors: list[str] | None = None
) -> list[LogSegment]:
    """Every segment (of ``source`` if given), ordered by source, then generation, then sequence.

    A damaged segment raises, unless ``errors`` is given: then its message is
    appended there and the segment left out.
    """
    ids = segment_ids(repo)

    def fetch(segment_id: str) -> LogSegment | IntegrityError:
        try:
            return load_segment(repo, segment_id)
        except IntegrityError as exc:
            return exc

    out: list[LogSegment] = []
    with ThreadPoolExecutor(max_workers=8) as pool:
        for res in pool.map(fetch, ids):
            if isinstance(res, IntegrityError):
                if errors is None:
                    raise res
                errors.append(str(res))
            elif source is None or res.source == source:
                out.append(res)
    out.sort(key=lambda s: (s.source, s.generation, s.sequence, s.end_time_ns, s.id))
    return out


def read_payload(repo: Repository, seg: LogSegment) -> Iterator[bytes]:
    """The segment's payload in order, every blob verified.  The index must be loaded."""
    return repo.load_blobs(DATA, list(seg.blobs))


def delete_segment(repo: Repository, segment_id: str) -> None:
    """Remove one segment (idempotent).  Its blobs stay until ``prune`` finds them unused."""
    repo.require_read("deleting log segments")
    repo.storage.delete(LOGS_PREFIX + segment_id)


def segment_blobs(segments: Iterable[LogSegment]) -> set[tuple[int, bytes]]:
    """The (type, id) keys of every blob the segments use: what ``prune`` must keep."""
    return {(DATA, blob_id) for seg in segments for blob_id in seg.blobs}
