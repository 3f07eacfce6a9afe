"""Sans-IO decoding of one row of a SQL dump into column values.

Values come back as text (``None`` for SQL NULL), the way a person reads a
row diff: numbers as written in the dump, strings unescaped, binary data as
``\\x`` and lower-case hex (PostgreSQL's bytea output, and what
``mariadb-dump --hex-blob`` writes as ``0x...``).

* :func:`pg_copy_values`: a line of a ``COPY ... FROM stdin`` block (text
  format): fields split on tabs, ``\\N`` is NULL, backslash escapes
  (``\\t``, ``\\n``, ``\\\\``, octal ``\\ooo``, hex ``\\xhh``) undone.
* :func:`mysql_insert_values`: the ``(...)`` of an ``INSERT INTO `t` VALUES
  (...);`` line: quoted strings with MySQL escapes, ``NULL``, numbers,
  ``0x`` hex and ``b'...'`` bit literals.
"""

from __future__ import annotations

import re

from sitesnap.errors import IntegrityError

__all__ = ["Value", "mysql_insert_values", "pg_copy_values"]

Value = str | None

_PG_SIMPLE = {ord("b"): b"\b", ord("f"): b"\f", ord("n"): b"\n", ord("r"): b"\r", ord("t"): b"\t", ord("v"): b"\v"}
_PG_ESCAPE = re.compile(rb"\\(?:([0-7]{1,3})|x([0-9A-Fa-f]{1,2})|(.))", re.DOTALL)


def _pg_unescape(match: re.Match[bytes]) -> bytes:
    octal, hexa, other = match.groups()
    if octal is not None:
        return bytes([int(octal, 8) & 0xFF])
    if hexa is not None:
        return bytes([int(hexa, 16)])
    return _PG_SIMPLE.get(other[0], other)


def pg_copy_values(line: bytes) -> list[Value]:
    """The fields of one COPY text line (without its newline)."""
    if b"\\" not in line:  # no escapes and no NULLs: the common row, split in one go
        return list(line.decode("utf-8", "replace").split("\t"))
    out: list[Value] = []
    for field in line.split(b"\t"):
        if field == b"\\N":
            out.append(None)
        elif b"\\" in field:
            out.append(_PG_ESCAPE.sub(_pg_unescape, field).decode("utf-8", "replace"))
        else:
            out.append(field.decode("utf-8", "replace"))
    return out


_MY_TOKEN = re.compile(
    rb"\s*(?:'((?:[^'\\]|\\.|'')*)'|(NULL)|0x([0-9A-Fa-f]*)|[bB]'([01]*)'|([-+0-9.eE]+))\s*(,|\))",
    re.DOTALL,
)
_MY_ESCAPES = {ord("0"): b"\x00", ord("n"): b"\n", ord("r"): b"\r", ord("t"): b"\t", ord("Z"): b"\x1a",
               ord("b"): b"\b"}
_MY_ESCAPE = re.compile(rb"\\(.)|''", re.DOTALL)


def _my_unescape(match: re.Match[bytes]) -> bytes:
    char = match.group(1)
    if char is None:
        return b"'"
    return _MY_ESCAPES.get(char[0], char)


def mysql_insert_values(values: bytes, what: str = "INSERT") -> list[Value]:
    """The values of ``(v1,v2,...)`` (the text after ``VALUES ``, up to the closing parenthesis).

    Raises IntegrityError on text that is not one row of literals.
    """
    if not values.startswith(b"("):
        raise IntegrityError(f"{what}: a row must start with '('")
    out: list[Value] = []
    pos = 1
    while True:
        match = _MY_TOKEN.match(values, pos)
        if match is None:
            raise IntegrityError(f"{what}: cannot read the value at byte {pos}")
        text, null, hexa, bits, number, closing = match.groups()
        if text is not None:
            out.append(_MY_ESCAPE.sub(_my_unescape, text).decode("utf-8", "replace"))
        elif null is not None:
            out.append(None)
        elif hexa is not None:
            out.append("\\x" + hexa.decode("ascii").lower())
        elif bits is not None:
            out.append("b'" + bits.decode("ascii") + "'")
        else:
            out.append(number.decode("ascii"))
        pos = match.end()
        if closing == b")":
            if values[pos:].strip():
                raise IntegrityError(f"{what}: more than one row in an INSERT (dumps are read one row per line)")
            return out
