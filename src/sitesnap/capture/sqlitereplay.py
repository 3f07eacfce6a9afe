"""Rebuild a SQLite database from a base copy and the frames of its commits.

The base is written to a new file; each commit's frames (payload records of
``capture/sqlite.py``: page number, database size after commit, page) are
collected until the commit's last frame and only then written, and the file
is cut to the committed size: a commit is applied whole or not at all, and
the payload of a commit that is not wanted is never looked at.  The caller
writes into a temporary file and renames it when :func:`verify` passes.
"""

from __future__ import annotations

import os
import sqlite3
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from sitesnap.errors import IntegrityError

__all__ = ["FrameApplier", "fsync_file", "verify", "write_base"]

_RECORD = struct.Struct("<II")


def write_base(dest: BinaryIO, chunks: Iterable[bytes]) -> int:
    """Write the base copy; returns its size."""
    size = 0
    for chunk in chunks:
        dest.write(chunk)
        size += len(chunk)
    return size


class FrameApplier:
    """Applies whole commits of one generation, in order, to an open database file."""

    def __init__(self, dest: BinaryIO, page_size: int) -> None:
        self.dest = dest
        self.page_size = page_size
        self.record = _RECORD.size + page_size
        self.commits_applied = 0

    def apply(self, payload: Iterable[bytes], commits: int) -> None:
        """Apply the first ``commits`` commits of a segment's payload."""
        if commits <= 0:
            return
        buf = bytearray()
        pending: dict[int, bytes] = {}
        done = 0
        for chunk in payload:
            buf += chunk
            used = 0
            while len(buf) - used >= self.record and done < commits:
                page, commit_size = _RECORD.unpack_from(buf, used)
                pending[page] = bytes(buf[used + _RECORD.size : used + self.record])
                used += self.record
                if commit_size:
                    self._write(pending, commit_size)
                    pending, done = {}, done + 1
            del buf[:used]
            if done == commits:
                return
        raise IntegrityError(f"log payload ends after {done} of {commits} commits")

    def _write(self, pages: dict[int, bytes], commit_size: int) -> None:
        for page, data in sorted(pages.items()):
            if page < 1:
                raise IntegrityError(f"log payload names page {page}")
            if page <= commit_size:
                self.dest.seek((page - 1) * self.page_size)
                self.dest.write(data)
        self.dest.truncate(commit_size * self.page_size)
        self.commits_applied += 1


def verify(path: Path) -> str:
    """``PRAGMA integrity_check`` of the rebuilt file: "ok" or the first problems."""
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True)
    try:
        rows = [str(r[0]) for r in conn.execute("PRAGMA integrity_check").fetchall()]
    except sqlite3.DatabaseError as exc:
        return str(exc)
    finally:
        conn.close()
    return "ok" if rows == ["ok"] else "; ".join(rows[:5])


def fsync_file(fh: BinaryIO) -> None:
    fh.flush()
    os.fsync(fh.fileno())
