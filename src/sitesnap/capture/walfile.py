"""The bytes of SQLite's WAL and wal-index (``-shm``) headers (sans-IO).

WAL file (sqlite.org/fileformat2.html#walformat), big-endian: a 32-byte
header (magic 0x377f0682/3, version, page size, checkpoint sequence, salt-1,
salt-2, checksum-1, checksum-2), then frames of a 24-byte header (page
number, database size in pages after a commit or 0, salt-1, salt-2,
checksum-1, checksum-2) and one page each.

wal-index header (sqlite.org/walformat.html), native byte order, stored
twice (offsets 0 and 48; a reader trusts it only when both copies agree):
version u32, unused u32, change counter u32, isInit u8, bigEndCksum u8,
page size u16, mxFrame u32 (valid frames in the WAL), nPage u32, frame
checksum 2x u32, salts 8 bytes (copied verbatim from the WAL header),
checksum 2x u32.  The checkpoint info follows at offset 96, starting with
nBackfill u32.  The salts here are the ones the *next* frame will carry,
even when the WAL file is empty after a truncating checkpoint: that is what
lets a capture prove that the WAL it reads continues the one it shipped.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from sitesnap.errors import IntegrityError

__all__ = ["FRAME_HEADER", "WAL_HEADER", "FrameHeader", "IndexHeader", "WalHeader", "frame_offset",
           "parse_frame_header", "parse_index_header", "parse_wal_header", "salt1_after_restart"]

WAL_HEADER = 32
FRAME_HEADER = 24
_FRAME = struct.Struct(">II8s")
_WAL = struct.Struct(">IIII8s")
_MAGICS = (0x377F0682, 0x377F0683)
_INDEX = struct.Struct("=IIIBBHII8s8s8s")
_INDEX_SIZE = 48
_NBACKFILL = struct.Struct("=I")
INDEX_VERSION = 3007000


@dataclass(frozen=True)
class FrameHeader:
    page: int
    commit_size: int  # database size in pages after this frame's commit; 0 inside a transaction
    salt: bytes


@dataclass(frozen=True)
class WalHeader:
    page_size: int
    checkpoint_seq: int
    salt: bytes


@dataclass(frozen=True)
class IndexHeader:
    max_frame: int
    salt: bytes
    backfilled: int
    change: int = 0  # bumped by every commit: equal headers name the same WAL state

    def same_state(self, other: IndexHeader) -> bool:
        return (self.change, self.max_frame, self.salt) == (other.change, other.max_frame, other.salt)


def frame_offset(index: int, page_size: int) -> int:
    """Where frame ``index`` (0-based) starts in the WAL file."""
    return WAL_HEADER + index * (FRAME_HEADER + page_size)


def parse_frame_header(raw: bytes) -> FrameHeader:
    if len(raw) < FRAME_HEADER:
        raise IntegrityError("WAL frame header truncated")
    page, commit, salt = _FRAME.unpack_from(raw)
    return FrameHeader(page, commit, salt)


def parse_wal_header(raw: bytes) -> WalHeader | None:
    """The WAL file's header, or None when the file is shorter than one (an empty WAL)."""
    if len(raw) < WAL_HEADER:
        return None
    magic, _version, page_size, seq, salt = _WAL.unpack_from(raw)
    if magic not in _MAGICS:
        raise IntegrityError("the WAL file has no WAL magic number")
    return WalHeader(page_size, seq, salt)


def parse_index_header(raw: bytes) -> IndexHeader:
    """The wal-index header; IntegrityError when its two copies differ or it is not initialised."""
    if len(raw) < 100:
        raise IntegrityError("the wal-index (-shm) is too short")
    first, second = raw[:_INDEX_SIZE], raw[_INDEX_SIZE : 2 * _INDEX_SIZE]
    version, _u, change, is_init, _big, _size, max_frame, _npage, _fck, salt, _ck = _INDEX.unpack(first)
    if first != second or not is_init or version != INDEX_VERSION:
        raise IntegrityError("the wal-index header is not stable (copies differ or not initialised)")
    return IndexHeader(max_frame, salt, _NBACKFILL.unpack_from(raw, 96)[0], change)


def salt1_after_restart(salt: bytes) -> bytes:
    """The first salt a WAL restart writes: the old salt-1 plus one (as SQLite's walRestartHdr does)."""
    return ((int.from_bytes(salt[:4], "big") + 1) & 0xFFFFFFFF).to_bytes(4, "big")
