"""Copy the log stream (continuous capture) from one repository to another, idempotently.

A segment is identified across repositories by (source, generation,
sequence): one the destination has is skipped, so repeating a copy moves
nothing.  Each payload is read from the source, every blob verified, and
stored in the destination through :func:`~sitesnap.repository.logstream.save_segment`
(its chunker and keys: the blob IDs need not match), so packs and index are
written before the segment.  Segments are copied base first, in sequence
order, so a copy cut short leaves every chain a shorter, sound chain.
"""

from __future__ import annotations

import dataclasses
import tempfile
from dataclasses import dataclass

from sitesnap.repository import logstream
from sitesnap.repository.repository import Repository

__all__ = ["LogCopyResult", "copy_log_segments"]


@dataclass
class LogCopyResult:
    copied: int = 0
    skipped: int = 0
    bytes_read: int = 0


def copy_log_segments(src: Repository, dst: Repository) -> LogCopyResult:
    """Copy every segment ``dst`` lacks; both indexes loaded, both repositories locked by the caller."""
    result = LogCopyResult()
    present = {(s.source, s.generation, s.sequence) for s in logstream.load_segments(dst, errors=[])}
    for seg in logstream.load_segments(src):
        if (seg.source, seg.generation, seg.sequence) in present:
            result.skipped += 1
            continue
        with tempfile.TemporaryFile(prefix="sitesnap-logcopy-") as payload:
            for piece in logstream.read_payload(src, seg):
                payload.write(piece)
                result.bytes_read += len(piece)
            payload.seek(0)
            copy = dataclasses.replace(seg, commits=list(seg.commits), blobs=[], params=dict(seg.params), id="")
            logstream.save_segment(dst, copy, payload)
        result.copied += 1
    return result
