"""The stream chunker cuts exactly where FastCDC cuts the whole input, whatever the reads return."""

from __future__ import annotations

import io
import random

from hypothesis import given, settings
from hypothesis import strategies as st
from pyfastcdc.cy import FastCDC

from sitesnap.format.chunker import Chunker, ChunkerParams

SMALL = ChunkerParams(avg_size=4096, min_size=1024, max_size=16384, seed=987654321)


class ShortReads(io.RawIOBase):
    """A stream whose reads return at most a random number of bytes (like a pipe)."""

    def __init__(self, data: bytes, seed: int, *, readinto: bool = True) -> None:
        self._data = memoryview(data)
        self._pos = 0
        self._rng = random.Random(seed)
        if not readinto:
            self.readinto = None  # type: ignore[assignment]

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        n = min(size if size >= 0 else len(self._data), self._rng.randint(1, 70000))
        out = bytes(self._data[self._pos : self._pos + n])
        self._pos += len(out)
        return out

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def boundaries(views: list[bytes]) -> list[int]:
    out, pos = [], 0
    for v in views:
        pos += len(v)
        out.append(pos)
    return out


def reference(data: bytes, params: ChunkerParams) -> list[int]:
    """pyfastcdc's own stream chunker over the whole input."""
    cdc = FastCDC(params.avg_size, min_size=params.min_size, max_size=params.max_size,
                  normalized_chunking=1, seed=params.seed)
    return [c.offset + c.length for c in cdc.cut_stream(io.BytesIO(data))]


def compressible(rng: random.Random, n: int) -> bytes:
    words = [bytes(rng.choices(b"abcdefgh ", k=rng.randint(1, 12))) for _ in range(50)]
    out = bytearray()
    while len(out) < n:
        out += rng.choice(words)
    return bytes(out[:n])


@settings(max_examples=150, deadline=None)
@given(size=st.integers(0, SMALL.max_size * 200), seed=st.integers(0, 2**32), text=st.booleans(),
       use_readinto=st.booleans())
def test_stream_cuts_equal_whole_input_cuts(size: int, seed: int, text: bool, use_readinto: bool) -> None:
    rng = random.Random(seed)
    data = compressible(rng, size) if text else rng.randbytes(size)
    chunker = Chunker(SMALL)
    got = [bytes(v) for v in chunker.cut_stream_views(ShortReads(data, seed, readinto=use_readinto))]
    assert b"".join(got) == data
    assert boundaries(got) == reference(data, SMALL)
    assert all(len(c) <= SMALL.max_size for c in got)
    whole = [bytes(v) for v in chunker.cut(data)]
    assert boundaries(got) == boundaries(whole)


def test_buffer_is_reused_between_streams() -> None:
    chunker = Chunker(SMALL)
    rng = random.Random(5)
    first, second = rng.randbytes(300_000), rng.randbytes(200_000)
    a = [bytes(v) for v in chunker.cut_stream(io.BytesIO(first))]
    buf = chunker._stream_buffer()
    b = [bytes(v) for v in chunker.cut_stream(io.BytesIO(second))]
    assert chunker._stream_buffer() is buf
    assert len(buf) == SMALL.max_size + (1 << 20)
    assert b"".join(a) == first and b"".join(b) == second
    assert boundaries(b) == reference(second, SMALL)


def test_default_bounds_match_pyfastcdc_on_a_large_stream() -> None:
    params = ChunkerParams(seed=424242)
    rng = random.Random(11)
    data = compressible(rng, 6 << 20) + rng.randbytes(9 << 20) + compressible(rng, 3 << 20)
    got = [bytes(v) for v in Chunker(params).cut_stream_views(ShortReads(data, 3))]
    assert b"".join(got) == data
    assert boundaries(got) == reference(data, params)
