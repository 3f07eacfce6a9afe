"""Recovery codes: a high-entropy password made to be printed and typed back.

A code is 8 groups of 5 Crockford base32 characters, e.g.
``7K3QD-W9X2M-...-C4H8R``: 7 random groups (175 bits) and one check group
(25 bits of keyed BLAKE3 over the 35 random characters).  The check lets a
mistyped code be reported at once instead of after a slow key derivation
that merely says "wrong password".

Typing is forgiving: case, spaces and dashes do not matter, and the
letters Crockford excludes because they look like digits are read as those
digits (``I``/``L`` as ``1``, ``O`` as ``0``).  :func:`canonical_code`
turns any such spelling into the one form the key slot was made with.
"""

from __future__ import annotations

import re
import secrets

import blake3

from sitesnap.errors import UsageError

__all__ = ["ALPHABET", "canonical_code", "new_recovery_code"]

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
GROUP = 5
DATA_GROUPS = 7
_CHECK_KEY = b"sitesnap recovery code check v1\x00"  # 32 bytes: BLAKE3 key
_CONFUSABLE = str.maketrans({"I": "1", "L": "1", "O": "0"})
_SEPARATORS = re.compile(r"[\s\-_]+")
_GROUPED = re.compile(r"^\s*[0-9A-Za-z]{5}(?:[\s\-_]+[0-9A-Za-z]{5}){7}\s*$")


def _check_group(data: str) -> str:
    digest = int.from_bytes(blake3.blake3(data.encode("ascii"), key=_CHECK_KEY).digest()[:4], "big")
    return "".join(ALPHABET[(digest >> (5 * k)) & 31] for k in range(GROUP - 1, -1, -1))


def _group(chars: str) -> str:
    return "-".join(chars[i : i + GROUP] for i in range(0, len(chars), GROUP))


def new_recovery_code() -> str:
    """A fresh code from the system CSPRNG, in its canonical printed form."""
    data = "".join(secrets.choice(ALPHABET) for _ in range(GROUP * DATA_GROUPS))
    return _group(data + _check_group(data))


def canonical_code(text: str) -> str | None:
    """The canonical form of ``text`` if it is a recovery code, else None.

    Returns None for anything that is not shaped like a code (an ordinary
    password).  A text written in the printed shape -- 8 groups of 5 -- whose
    check group does not match raises UsageError naming the typo, before
    any key derivation runs; an unseparated 40-character text with a bad
    check is taken for an ordinary password (it may well be one).
    """
    squeezed = _SEPARATORS.sub("", text).upper().translate(_CONFUSABLE)
    if len(squeezed) != GROUP * (DATA_GROUPS + 1) or any(c not in ALPHABET for c in squeezed):
        return None
    data, check = squeezed[: GROUP * DATA_GROUPS], squeezed[GROUP * DATA_GROUPS :]
    if _check_group(data) == check:
        return _group(squeezed)
    if _GROUPED.match(text):
        raise UsageError(
            "this recovery code has a typo: its last group does not match the others",
            hint="Compare each group with the printed recovery sheet; case, spaces and dashes do not matter.",
        )
    return None
