"""The binlog coordinates a consistent dump was taken at, read from the dump as it streams by.

``mariadb-dump --single-transaction --master-data=2 --gtid`` writes, as
comments, the binlog file and position at its consistency point near the top::

    -- CHANGE MASTER TO MASTER_LOG_FILE='mysql-bin.000001', MASTER_LOG_POS=3667;

and the GTID position anywhere after (MariaDB defers it)::

    -- SET GLOBAL gtid_slave_pos='0-1-17';

:class:`CoordinateReader` wraps the dump stream, passes every byte through
unchanged and remembers both; ``on_end`` runs once when the stream ends (the
dump program has then succeeded), before the reader returns its end.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import BinaryIO

__all__ = ["CoordinateReader"]

_FILE_POS = re.compile(rb"^-- CHANGE MASTER TO MASTER_LOG_FILE='([^']+)', MASTER_LOG_POS=(\d+);", re.MULTILINE)
_GTID = re.compile(rb"^-- SET GLOBAL gtid_slave_pos='([0-9,-]*)';", re.MULTILINE)
_OVERLAP = 512


class CoordinateReader:
    """A read-only stream over ``inner`` that notes the dump's binlog coordinates.  Not thread-safe."""

    def __init__(self, inner: BinaryIO, on_end: Callable[[CoordinateReader], None] | None = None) -> None:
        self.inner = inner
        self.on_end = on_end
        self.file = ""
        self.pos = 0
        self.gtid = ""
        self._tail = b""

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        data = self.inner.read(n)
        self._look(data)
        if not data and self.on_end is not None:
            end, self.on_end = self.on_end, None
            end(self)
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def _look(self, data: bytes) -> None:
        if not data:
            return
        window = self._tail + data
        if not self.file:
            match = _FILE_POS.search(window)
            if match:
                self.file, self.pos = match.group(1).decode("utf-8"), int(match.group(2))
        if b"gtid_slave_pos" in window:
            match = _GTID.search(window)
            if match:
                self.gtid = match.group(1).decode("ascii")
        self._tail = window[-_OVERLAP:]
