"""Per-blob compression: zstd, skipped for data that does not compress.

The first byte of every blob's plaintext says how the rest is stored, so the
decision is made per blob and recorded with it.  A cheap sample compression
decides: media (JPEG, MP4, ZIP) is stored as is and costs no CPU twice.
"""

from __future__ import annotations

import threading

import zstandard

from sitesnap.errors import IntegrityError

__all__ = ["RAW", "ZSTD", "Compressor", "decompress"]

RAW = 0
ZSTD = 1

_SAMPLE = 16 << 10
_MIN_SIZE = 256


class Compressor:
    """Thread-safe: each thread gets its own zstd context."""

    def __init__(self, level: int = 3) -> None:
        self.level = level
        self._local = threading.local()

    def _ctx(self) -> zstandard.ZstdCompressor:
        ctx = getattr(self._local, "ctx", None)
        if ctx is None:
            ctx = zstandard.ZstdCompressor(level=self.level)
            self._local.ctx = ctx
        return ctx

    def compress(self, data: bytes | memoryview) -> tuple[int, bytes | memoryview]:
        """Return (mode, payload).  Raw when compression would not save 1/16 of the size."""
        size = len(data)
        if size < _MIN_SIZE or self.level <= 0:
            return RAW, data
        ctx = self._ctx()
        if size > 4 * _SAMPLE:
            sample = bytes(memoryview(data)[size // 2 : size // 2 + _SAMPLE])
            if len(ctx.compress(sample)) > _SAMPLE * 0.97:
                return RAW, data
        out = ctx.compress(data)
        if len(out) >= size - (size >> 4):
            return RAW, data
        return ZSTD, out


_dctx = threading.local()


def decompress(mode: int, payload: bytes | memoryview, expected_size: int, what: str) -> bytes:
    if mode == RAW:
        return bytes(payload)
    if mode == ZSTD:
        ctx = getattr(_dctx, "ctx", None)
        if ctx is None:
            ctx = zstandard.ZstdDecompressor()
            _dctx.ctx = ctx
        try:
            return ctx.decompress(payload, max_output_size=max(expected_size, 1))
        except zstandard.ZstdError as exc:
            raise IntegrityError(f"{what}: cannot decompress ({exc})") from None
    raise IntegrityError(f"{what}: unknown compression mode {mode}")
