"""Durations, sizes and rates as people write them in ``sitesnap.toml``.

``parse_*`` raise :class:`ValueError` with a one-line reason that the config
loader turns into ``file:line: key: reason``; ``format_*`` produce the
shortest text that parses back to the same value, for writing a config.

Durations: a number and a unit, possibly several (``"1h30min"``): ``s``,
``min`` (or ``m``), ``h``, ``d``, ``w``, ``month`` (30 days) and ``y`` (365
days), with long forms (``"3 months"``, ``"2 weeks"``).  Sizes: bytes, decimal
units ``kB MB GB TB PB`` (powers of 1000) and binary ``KiB MiB GiB TiB PiB``
(powers of 1024); a bare ``K M G T P`` is binary.  Rates are sizes per second
(``"10MiB/s"``; the ``/s`` is optional).
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal, InvalidOperation

__all__ = [
    "format_duration",
    "format_rate",
    "format_size",
    "parse_duration",
    "parse_rate",
    "parse_size",
]

_SECOND = 1
_MINUTE = 60
_HOUR = 3600
_DAY = 86400

_DURATION_UNITS: dict[str, int] = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), _SECOND),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), _MINUTE),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), _HOUR),
    **dict.fromkeys(("d", "day", "days"), _DAY),
    **dict.fromkeys(("w", "week", "weeks"), 7 * _DAY),
    **dict.fromkeys(("mo", "month", "months"), 30 * _DAY),
    **dict.fromkeys(("y", "year", "years"), 365 * _DAY),
}
# Largest first: how format_duration spells a value.
_DURATION_SPELLING = (("d", _DAY), ("h", _HOUR), ("min", _MINUTE), ("s", _SECOND))

_SIZE_UNITS: dict[str, int] = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "pb": 1000**5,
    "k": 1024,
    "m": 1024**2,
    "g": 1024**3,
    "t": 1024**4,
    "p": 1024**5,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
    "pib": 1024**5,
}
_SIZE_SPELLING = (
    ("PiB", 1024**5),
    ("TiB", 1024**4),
    ("GiB", 1024**3),
    ("MiB", 1024**2),
    ("KiB", 1024),
    ("PB", 1000**5),
    ("TB", 1000**4),
    ("GB", 1000**3),
    ("MB", 1000**2),
    ("kB", 1000),
)

_TERM = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*,?")
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*")

DURATION_EXAMPLE = 'e.g. "6h", "30d", "3 months"'
SIZE_EXAMPLE = 'e.g. "500GB", "1.5TiB"'


def parse_duration(text: str) -> timedelta:
    """Parse ``"6h"``, ``"30d"``, ``"3 months"``, ``"1h30min"`` into a positive timedelta."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"expected a duration, {DURATION_EXAMPLE}")
    total = Decimal(0)
    pos = 0
    source = text.strip()
    while pos < len(source):
        match = _TERM.match(source, pos)
        if match is None or match.end() == pos:
            raise ValueError(f"invalid duration {text!r}: {DURATION_EXAMPLE}")
        number, unit = match.group(1), match.group(2).lower()
        if not unit:
            raise ValueError(f"invalid duration {text!r}: the number needs a unit, {DURATION_EXAMPLE}")
        if unit not in _DURATION_UNITS:
            raise ValueError(f"invalid duration {text!r}: unknown unit {unit!r}, {DURATION_EXAMPLE}")
        total += Decimal(number) * _DURATION_UNITS[unit]
        pos = match.end()
    if total <= 0:
        raise ValueError(f"invalid duration {text!r}: must be longer than zero")
    return timedelta(seconds=float(total))


def format_duration(value: timedelta) -> str:
    """The compact spelling of ``value`` (``"90d"``, ``"6h"``, ``"1d12h"``); round-trips."""
    seconds = int(value.total_seconds())
    if seconds <= 0:
        raise ValueError("durations are positive")
    parts = []
    for unit, size in _DURATION_SPELLING:
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def parse_size(value: str | int) -> int:
    """Parse ``"500GB"``, ``"1.5TiB"`` or a byte count into bytes (a non-negative int)."""
    if isinstance(value, bool):
        raise ValueError(f"expected a size, {SIZE_EXAMPLE}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a size cannot be negative")
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a size, {SIZE_EXAMPLE}")
    match = _SIZE.fullmatch(value)
    if match is None:
        raise ValueError(f"invalid size {value!r}: {SIZE_EXAMPLE}")
    unit = match.group(2).lower()
    if unit not in _SIZE_UNITS:
        raise ValueError(f"invalid size {value!r}: unknown unit {match.group(2)!r}, {SIZE_EXAMPLE}")
    try:
        return int(Decimal(match.group(1)) * _SIZE_UNITS[unit])
    except InvalidOperation:  # pragma: no cover - the regex only admits decimals
        raise ValueError(f"invalid size {value!r}") from None


def format_size(value: int) -> str:
    """The shortest exact spelling of a byte count (``"500GB"``, ``"10MiB"``, ``"123"``)."""
    best, digits = str(value), len(str(value))
    if value > 0:
        for unit, size in _SIZE_SPELLING:  # binary first: it wins ties
            count = value // size
            if value % size == 0 and len(str(count)) < digits:
                best, digits = f"{count}{unit}", len(str(count))
    return best


def parse_rate(value: str | int) -> int:
    """Parse ``"10MiB/s"`` (or ``"10MiB"``, or bytes per second) into bytes per second > 0."""
    text = value.strip() if isinstance(value, str) else value
    if isinstance(text, str) and text.lower().endswith("/s"):
        text = text[:-2]
    try:
        rate = parse_size(text)
    except ValueError:
        raise ValueError(f'invalid rate {value!r}: e.g. "10MiB/s", "500kB/s"') from None
    if rate <= 0:
        raise ValueError(f"invalid rate {value!r}: must be more than zero")
    return rate


def format_rate(value: int) -> str:
    """The spelling of a rate in bytes per second (``"10MiB/s"``)."""
    return f"{format_size(value)}/s"
