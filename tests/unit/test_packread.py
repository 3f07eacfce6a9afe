"""Planning pack reads: needed blobs merged into few ranges within the gap and span limits."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sitesnap.repository.packread import NeededBlob, plan_ranges, read_limits

PACK = b"p" * 32


def blob(n: int, offset: int, length: int) -> NeededBlob:
    return NeededBlob(bytes([n]) * 32, offset, length, length)


def test_adjacent_blobs_are_one_read_in_offset_order() -> None:
    ranges = plan_ranges(PACK, [blob(2, 100, 50), blob(1, 0, 100), blob(3, 150, 10)])
    assert [(r.start, r.end) for r in ranges] == [(0, 160)]
    assert [b.offset for b in ranges[0].blobs] == [0, 100, 150]


def test_a_gap_wider_than_max_gap_splits_the_read() -> None:
    ranges = plan_ranges(PACK, [blob(1, 0, 10), blob(2, 1000, 10), blob(3, 1015, 5)], max_gap=100)
    assert [(r.start, r.end, len(r.blobs)) for r in ranges] == [(0, 10, 1), (1000, 1020, 2)]


def test_max_span_bounds_a_read_and_a_larger_blob_stands_alone() -> None:
    ranges = plan_ranges(PACK, [blob(1, 0, 60), blob(2, 60, 60), blob(3, 120, 500)], max_span=100)
    assert [(r.start, r.end) for r in ranges] == [(0, 60), (60, 120), (120, 620)]


def test_a_blob_needed_twice_is_read_once() -> None:
    ranges = plan_ranges(PACK, [blob(1, 0, 10), blob(1, 0, 10)])
    assert len(ranges) == 1 and len(ranges[0].blobs) == 1


def test_local_disks_read_less_at_once_than_remote_stores() -> None:
    assert read_limits("local").max_span < read_limits("s3").max_span
    assert read_limits("sftp") == read_limits("s3")


SPANS = st.lists(st.tuples(st.integers(0, 10_000), st.integers(1, 300)), min_size=1, max_size=40,
                 unique_by=lambda t: t[0])


@given(SPANS, st.integers(0, 500), st.integers(1, 2000))
def test_every_blob_lands_in_exactly_one_range_that_holds_it(spans: list[tuple[int, int]], gap: int, span: int) -> None:
    blobs = [NeededBlob(i.to_bytes(32, "big"), off, n, n) for i, (off, n) in enumerate(spans)]
    ranges = plan_ranges(PACK, blobs, max_gap=gap, max_span=span)
    placed = [b for r in ranges for b in r.blobs]
    assert sorted(b.blob_id for b in placed) == sorted(b.blob_id for b in blobs)
    for r in ranges:
        assert all(r.start <= b.offset and b.offset + b.length <= r.end for b in r.blobs)
        assert r.end - r.start <= span or len(r.blobs) == 1
