from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sitesnap.config.units import (
    format_duration,
    format_rate,
    format_size,
    parse_duration,
    parse_rate,
    parse_size,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("6h", timedelta(hours=6)),
        ("30d", timedelta(days=30)),
        ("3 months", timedelta(days=90)),
        ("1 month", timedelta(days=30)),
        ("2 weeks", timedelta(days=14)),
        ("1h30min", timedelta(minutes=90)),
        ("1 day, 12 hours", timedelta(hours=36)),
        ("1.5h", timedelta(minutes=90)),
        ("45s", timedelta(seconds=45)),
        ("1y", timedelta(days=365)),
        ("10m", timedelta(minutes=10)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "expected a duration"),
        ("6", "needs a unit"),
        ("6 parsecs", "unknown unit 'parsecs'"),
        ("0h", "longer than zero"),
        ("h6", "invalid duration"),
        ("-1d", "invalid duration"),
    ],
)
def test_parse_duration_errors(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_duration(text)


@given(st.integers(min_value=1, max_value=10**9))
def test_duration_round_trip(seconds: int) -> None:
    value = timedelta(seconds=seconds)
    assert parse_duration(format_duration(value)) == value


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("500GB", 500 * 10**9),
        ("1.5TiB", int(1.5 * 2**40)),
        ("10 MB", 10 * 10**6),
        ("4k", 4096),
        ("1024", 1024),
        (2048, 2048),
        ("0", 0),
    ],
)
def test_parse_size(text: str | int, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "GB", "5 XB", "-3GB", "1.2.3GB"])
def test_parse_size_errors(text: str) -> None:
    with pytest.raises(ValueError, match="size"):
        parse_size(text)


@given(st.integers(min_value=0, max_value=2**60))
def test_size_round_trip(value: int) -> None:
    assert parse_size(format_size(value)) == value


def test_size_spelling_prefers_binary_then_decimal() -> None:
    assert format_size(10 * 2**20) == "10MiB"
    assert format_size(500 * 10**9) == "500GB"
    assert format_size(1001) == "1001"


def test_rates() -> None:
    assert parse_rate("10MiB/s") == 10 * 2**20
    assert parse_rate("500kB") == 500_000
    assert format_rate(10 * 2**20) == "10MiB/s"
    with pytest.raises(ValueError, match="more than zero"):
        parse_rate("0/s")
    with pytest.raises(ValueError, match="invalid rate"):
        parse_rate("fast")
