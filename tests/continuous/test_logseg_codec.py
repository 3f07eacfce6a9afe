"""The log segment codec: round trips, and refusal of anything damaged."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sitesnap.errors import FormatVersionError, IntegrityError
from sitesnap.format.logseg import BASE, LOG, Commit, LogSegment, decode_segment, encode_segment


@st.composite
def segments(draw: st.DrawFn) -> LogSegment:
    kind = draw(st.sampled_from([BASE, LOG]))
    start_ns = draw(st.integers(0, 2**62))
    times = sorted(draw(st.lists(st.integers(start_ns, start_ns + 10**12), max_size=20)))
    end_ns = max([start_ns, *times]) + draw(st.integers(0, 10**9))
    ends = sorted(draw(st.lists(st.integers(0, 2**40), min_size=len(times), max_size=len(times))))
    size = ends[-1] if ends else draw(st.integers(0, 2**40))
    start_pos = draw(st.integers(0, 2**62))
    return LogSegment(
        source=draw(st.text(min_size=1, max_size=40)),
        generation=draw(st.binary(min_size=16, max_size=16)),
        sequence=0 if kind == BASE else draw(st.integers(1, 2**63)),
        kind=kind,
        start_pos=start_pos,
        end_pos=start_pos + draw(st.integers(0, 2**40)),
        start_time_ns=start_ns,
        end_time_ns=end_ns,
        payload_size=size,
        commits=[Commit(t, e) for t, e in zip(times, ends, strict=True)],
        blobs=draw(st.lists(st.binary(min_size=32, max_size=32), max_size=10)),
        params=draw(st.dictionaries(st.text(max_size=8), st.integers() | st.text(max_size=8), max_size=4)),
    )


@given(segments())
def test_round_trip(seg: LogSegment) -> None:
    assert decode_segment(encode_segment(seg), "segment") == seg


@given(segments(), st.data())
def test_truncation_is_refused(seg: LogSegment, data: st.DataObject) -> None:
    raw = encode_segment(seg)
    cut = data.draw(st.integers(0, len(raw) - 1))
    with pytest.raises(IntegrityError):
        decode_segment(raw[:cut], "segment")


def _plain() -> LogSegment:
    return LogSegment("db", b"g" * 16, 3, LOG, 10, 20, 100, 200, 50, [Commit(150, 20), Commit(180, 50)], [b"x" * 32])


def test_newer_version_is_named() -> None:
    raw = bytearray(encode_segment(_plain()))
    raw[4] = 2
    with pytest.raises(FormatVersionError, match="segment version 2"):
        decode_segment(bytes(raw), "segment")


@pytest.mark.parametrize("change", [
    {"commits": [Commit(180, 20), Commit(150, 50)]},  # times go backwards
    {"commits": [Commit(150, 20), Commit(250, 50)]},  # a commit after the segment's end
    {"commits": [Commit(150, 20), Commit(180, 40)]},  # payload not ended by the last commit
    {"kind": BASE},  # a base with a sequence other than 0
    {"start_pos": 30},  # positions reversed
])
def test_broken_invariants_are_refused(change: dict[str, object]) -> None:
    seg = _plain()
    for key, value in change.items():
        setattr(seg, key, value)
    with pytest.raises(ValueError):
        encode_segment(seg)


def test_trailing_bytes_are_damage() -> None:
    with pytest.raises(IntegrityError, match="trailing"):
        decode_segment(encode_segment(_plain()) + b"\0", "segment")
