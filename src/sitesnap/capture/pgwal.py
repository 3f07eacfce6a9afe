"""PostgreSQL WAL arithmetic (pure): LSNs, WAL file names, and the server programs' directory.

An LSN is a byte position in the server's write-ahead log; the log is cut
into files of ``wal_segment_size`` bytes (16 MiB by default) named
``TTTTTTTTXXXXXXXXYYYYYYYY``: the timeline, then the file number split
into the high and low part of ``segment number * segment size``.  Log
segments in the repository (``format/logseg.py``) record LSN ranges, so a
WAL file is rebuilt from the segments that cover its byte range.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["WalFile", "format_lsn", "parse_lsn", "server_bin", "server_package", "wal_file_at"]

_NAME = re.compile(r"^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})$")
SERVER_ROOT = Path("/usr/lib/postgresql")


def parse_lsn(text: str) -> int:
    """``'0/16B3748'`` as an integer; ValueError for anything else."""
    high, sep, low = text.strip().partition("/")
    if not sep:
        raise ValueError(f"not an LSN: {text!r}")
    return (int(high, 16) << 32) | int(low, 16)


def format_lsn(lsn: int) -> str:
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


@dataclass(frozen=True)
class WalFile:
    """One WAL file: its timeline and the byte range of the log it holds."""

    timeline: int
    start: int
    size: int

    @property
    def end(self) -> int:
        return self.start + self.size

    @property
    def name(self) -> str:
        per_id = 0x100000000 // self.size
        segno = self.start // self.size
        return f"{self.timeline:08X}{segno // per_id:08X}{segno % per_id:08X}"

    @classmethod
    def parse(cls, name: str, size: int) -> WalFile | None:
        """The file ``name`` names (None for history files, ``.partial`` and other names)."""
        match = _NAME.match(name)
        if match is None:
            return None
        timeline, log_id, seg = (int(g, 16) for g in match.groups())
        return cls(timeline, (log_id * (0x100000000 // size) + seg) * size, size)


def wal_file_at(timeline: int, lsn: int, size: int) -> WalFile:
    """The file of ``timeline`` that holds the byte at ``lsn``."""
    return WalFile(timeline, lsn - lsn % size, size)


def server_package(major: int) -> str:
    """The Debian package with the server programs of ``major``."""
    return f"postgresql-{major}"


def server_bin(major: int, program: str, root: Path = SERVER_ROOT) -> Path | None:
    """Debian's ``/usr/lib/postgresql/<major>/bin/<program>``, if installed."""
    path = root / str(major) / "bin" / program
    return path if path.is_file() else None
