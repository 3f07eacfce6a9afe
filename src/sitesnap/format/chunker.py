"""Content-defined chunking with FastCDC (pyfastcdc's compiled module).

The chunker is keyed: its gear table comes from a per-repository secret seed
stored in the encrypted ``config`` object, so chunk boundaries do not leak
which known files a repository contains (the fingerprinting attack restic's
random polynomial also defends against).  Small inputs are one chunk.

The pure-Python fallback of pyfastcdc is ~100x slower; we refuse to run on it
rather than quietly take an hour for a backup.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sitesnap.errors import SitesnapError

__all__ = ["Chunker", "ChunkerParams", "native_chunker_available"]


def _load_native() -> Any:
    try:
        from pyfastcdc.cy import FastCDC
    except ImportError as exc:  # pragma: no cover - depends on the wheel
        raise SitesnapError(
            "pyfastcdc's compiled module is not available",
            hint="Reinstall pyfastcdc from a binary wheel (pip install --force-reinstall pyfastcdc).",
        ) from exc
    return FastCDC


def native_chunker_available() -> bool:
    try:
        _load_native()
    except SitesnapError:
        return False
    return True


@dataclass(frozen=True)
class ChunkerParams:
    """Chunk size bounds and the secret gear seed (a 63-bit integer)."""

    avg_size: int = 1 << 20
    min_size: int = 256 << 10
    max_size: int = 4 << 20
    seed: int = 0

    def to_dict(self) -> dict[str, int]:
        return {"avg": self.avg_size, "min": self.min_size, "max": self.max_size, "seed": self.seed}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChunkerParams:
        return cls(int(data["avg"]), int(data["min"]), int(data["max"]), int(data["seed"]))


class Chunker:
    """Splits buffers into content-defined chunks.  Not thread-safe: one per thread."""

    def __init__(self, params: ChunkerParams) -> None:
        fastcdc = _load_native()
        self.params = params
        self._cdc = fastcdc(
            params.avg_size,
            min_size=params.min_size,
            max_size=params.max_size,
            normalized_chunking=1,
            seed=params.seed,
        )
        self._buf: bytearray | None = None  # the stream buffer, made on first use

    def cut(self, buf: bytes | bytearray | memoryview) -> Iterator[memoryview]:
        """Yield views of ``buf``; valid as long as ``buf`` is."""
        view = memoryview(buf)
        if len(view) <= self.params.min_size:
            if len(view):
                yield view
            return
        for chunk in self._cdc.cut_buf(view):
            yield view[chunk.offset : chunk.offset + chunk.length]

    def cut_stream(self, read_into: Any) -> Iterator[bytes]:
        """Chunk a stream (anything with ``readinto`` or ``read``), yielding owned bytes.

        Memory stays bounded by ``max_size`` plus one read block, whatever the
        stream's length: database dumps go through here without a temp file.
        """
        for view in self.cut_stream_views(read_into):
            yield bytes(view)

    def cut_stream_views(self, stream: Any) -> Iterator[memoryview]:
        """Like :meth:`cut_stream` without the copy: each view is valid only until the next one.

        One buffer of ``max_size`` + 1 MiB, allocated once per chunker and
        reused for every stream, is filled from the stream and cut with
        FastCDC; every chunk but the last of a fill is final (a FastCDC cut
        depends only on the bytes from the chunk's start to the cut), and the
        last is carried to the front of the buffer and cut again once more
        data follows it.  Boundaries are exactly those of cutting the whole
        stream at once.  pyfastcdc's own stream chunker allocates and zeroes a
        new ``2 * max_size`` buffer per stream: 8 MiB per file with the
        default bounds, which was most of a backup's memory churn.
        """
        readinto = _readinto_of(stream)
        buf = self._stream_buffer()
        view = memoryview(buf)
        capacity = len(buf)
        filled = 0
        eof = False
        while True:
            while not eof and filled < capacity:
                n = readinto(view[filled:])
                if not n:
                    eof = True
                else:
                    filled += n
            if not filled:
                return
            region = view[:filled]
            carry = 0
            if filled <= self.params.min_size:
                pending = [(0, filled)]
            else:
                pending = [(c.offset, c.length) for c in self._cdc.cut_buf(region)]
            if not eof:
                carry, _ = pending.pop()
            for offset, length in pending:
                yield region[offset : offset + length]
            if eof:
                return
            rest = filled - carry
            view[:rest] = view[carry:filled]  # memoryview assignment is a memmove
            filled = rest

    def _stream_buffer(self) -> bytearray:
        if self._buf is None:
            self._buf = bytearray(self.params.max_size + _READ_BLOCK)
        return self._buf


_READ_BLOCK = 1 << 20


def _readinto_of(stream: Any) -> Any:
    """``stream.readinto``, or an equivalent built on ``stream.read``."""
    readinto = getattr(stream, "readinto", None)
    if callable(readinto):
        return readinto

    def via_read(dest: memoryview) -> int:
        data = stream.read(len(dest))
        dest[: len(data)] = data
        return len(data)

    return via_read
