"""Log segments: one piece of a source's continuous change log (sans-IO codec).

A continuous source (docs/continuous.md) has, besides its snapshots, a *log
stream*: a chain of segments per **generation**.  Segment 0 of a generation
is its *base* (a full copy of the database), every later one holds the
changes since the one before.  The codec is database-neutral: positions are
opaque unsigned integers (SQLite: frames shipped in the generation;
PostgreSQL: an LSN; MariaDB: a binlog offset) and ``params`` carries what a
source needs to resume or replay (page size, WAL salts).

Binary layout of the plaintext (integers little-endian)::

    magic "SSLG" (4) | version u8 (1) | kind u8 (0 base, 1 log) | reserved u16 (0)
    u16 source_len | source (UTF-8)
    generation (16)
    u64 sequence
    u64 start_pos | u64 end_pos
    i64 start_time_ns | i64 end_time_ns
    u64 payload_size
    u32 commit_count | commit_count x { i64 time_ns | u64 payload_end }
    u32 blob_count | blob_count x blob_id (32)
    u32 params_len | params (UTF-8 JSON object, sorted keys)

Invariants a decoder enforces (anything else is damage): commit times and
payload ends never decrease, the last payload end is ``payload_size``,
every commit time lies within [start_time_ns, end_time_ns], ``start_pos``
<= ``end_pos``, and a base has sequence 0.  The plaintext is stored in an
envelope of kind ``G`` (docs/format/v1.md section 15).
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from typing import Any

from sitesnap.errors import FormatVersionError, IntegrityError

__all__ = [
    "BASE",
    "KIND_LOGSEG",
    "LOG",
    "SEGMENT_VERSION",
    "Commit",
    "LogSegment",
    "decode_segment",
    "encode_segment",
]

KIND_LOGSEG = ord("G")
SEGMENT_VERSION = 1
BASE = 0
LOG = 1
_MAGIC = b"SSLG"
_HEAD = struct.Struct("<4sBBH")
_FIXED = struct.Struct("<QQQqqQ")  # sequence, start/end pos, start/end time, payload size
_COMMIT = struct.Struct("<qQ")
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_GENERATION_SIZE = 16
_ID_SIZE = 32


@dataclass(frozen=True)
class Commit:
    """One transaction in a log segment: when it was shipped, where its bytes end in the payload."""

    time_ns: int
    payload_end: int


@dataclass
class LogSegment:
    """The decoded header of one segment; ``id`` is filled in when loaded or saved."""

    source: str
    generation: bytes
    sequence: int
    kind: int
    start_pos: int
    end_pos: int
    start_time_ns: int
    end_time_ns: int
    payload_size: int
    commits: list[Commit] = field(default_factory=list)
    blobs: list[bytes] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    id: str = ""

    @property
    def is_base(self) -> bool:
        return self.kind == BASE


def encode_segment(seg: LogSegment) -> bytes:
    """The plaintext of ``seg``; raises ValueError for a segment the decoder would refuse."""
    _validate(seg)
    source = seg.source.encode("utf-8")
    params = json.dumps(seg.params, sort_keys=True, separators=(",", ":")).encode("utf-8")
    parts = [
        _HEAD.pack(_MAGIC, SEGMENT_VERSION, seg.kind, 0),
        _U16.pack(len(source)), source, seg.generation,
        _FIXED.pack(seg.sequence, seg.start_pos, seg.end_pos, seg.start_time_ns, seg.end_time_ns,
                    seg.payload_size),
        _U32.pack(len(seg.commits)),
        *(_COMMIT.pack(c.time_ns, c.payload_end) for c in seg.commits),
        _U32.pack(len(seg.blobs)), *seg.blobs,
        _U32.pack(len(params)), params,
    ]
    return b"".join(parts)


class _Reader:
    """A cursor over the plaintext that raises IntegrityError instead of reading past the end."""

    def __init__(self, data: bytes, what: str) -> None:
        self.data, self.pos, self.what = data, 0, what

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise IntegrityError(f"{self.what}: truncated")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def unpack(self, st: struct.Struct) -> tuple[Any, ...]:
        return st.unpack(self.take(st.size))


def decode_segment(data: bytes, what: str, segment_id: str = "") -> LogSegment:
    """Parse and validate a segment's plaintext; IntegrityError when damaged."""
    r = _Reader(data, what)
    magic, version, kind, _reserved = r.unpack(_HEAD)
    if magic != _MAGIC:
        raise IntegrityError(f"{what}: not a log segment (bad magic)")
    if version != SEGMENT_VERSION:
        raise FormatVersionError(f"{what} has segment version {version}, this sitesnap reads {SEGMENT_VERSION}")
    try:
        source = r.take(r.unpack(_U16)[0]).decode("utf-8")
        generation = r.take(_GENERATION_SIZE)
        sequence, start_pos, end_pos, start_ns, end_ns, size = r.unpack(_FIXED)
        commits = [Commit(*r.unpack(_COMMIT)) for _ in range(r.unpack(_U32)[0])]
        blobs = [r.take(_ID_SIZE) for _ in range(r.unpack(_U32)[0])]
        params = json.loads(r.take(r.unpack(_U32)[0]).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IntegrityError(f"{what}: malformed ({exc})") from None
    if r.pos != len(data):
        raise IntegrityError(f"{what}: {len(data) - r.pos} trailing bytes")
    seg = LogSegment(source, generation, sequence, kind, start_pos, end_pos, start_ns, end_ns, size,
                     commits, blobs, params if isinstance(params, dict) else {}, segment_id)
    try:
        _validate(seg)
    except ValueError as exc:
        raise IntegrityError(f"{what}: {exc}") from None
    return seg


def _validate(seg: LogSegment) -> None:
    """The invariants of the module docstring; ValueError names the first one broken."""
    if seg.kind not in (BASE, LOG):
        raise ValueError(f"unknown segment kind {seg.kind}")
    if len(seg.generation) != _GENERATION_SIZE or any(len(b) != _ID_SIZE for b in seg.blobs):
        raise ValueError("bad generation or blob ID length")
    if seg.kind == BASE and seg.sequence != 0:
        raise ValueError("a base segment must have sequence 0")
    if seg.start_pos > seg.end_pos or seg.start_time_ns > seg.end_time_ns:
        raise ValueError("range ends before it starts")
    last_time, last_end = seg.start_time_ns, 0
    for c in seg.commits:
        if c.time_ns < last_time or c.time_ns > seg.end_time_ns or c.payload_end < last_end:
            raise ValueError("commits out of order or outside the segment's time range")
        last_time, last_end = c.time_ns, c.payload_end
    if seg.commits and last_end != seg.payload_size:
        raise ValueError("the last commit does not end the payload")
    if len(seg.source.encode("utf-8")) > 0xFFFF:
        raise ValueError("source name too long")
