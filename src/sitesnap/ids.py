"""Identifiers: 32-byte content IDs shown as lowercase hex, and prefix matching.

IDs are bytes internally (compact in the in-memory index) and hex strings at
every boundary (storage names, JSON, the CLI).
"""

from __future__ import annotations

import os

__all__ = ["ID_SIZE", "from_hex", "new_random_id", "short", "to_hex"]

ID_SIZE = 32


def to_hex(raw: bytes) -> str:
    return raw.hex()


def from_hex(text: str) -> bytes:
    """Parse a full hex ID; raises ValueError on anything else."""
    raw = bytes.fromhex(text)
    if len(raw) != ID_SIZE:
        raise ValueError(f"an ID has {ID_SIZE * 2} hex digits, got {len(text)}")
    return raw


def new_random_id() -> str:
    return os.urandom(ID_SIZE).hex()


def short(hex_id: str) -> str:
    """The 8-digit form shown to people, as restic does."""
    return hex_id[:8]
