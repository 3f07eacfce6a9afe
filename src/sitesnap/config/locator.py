"""Map a key path such as ``("sources", 1, "type")`` to its line in TOML text.

``tomllib`` gives values but no positions, and an error message that says
``sitesnap.toml:12`` is worth a lot.  :class:`KeyLocator` scans the text once,
line by line, the way a TOML parser sees structure: table headers
(``[a.b]``), arrays of tables (``[[sources]]``, counted per parent, so the
second ``[[sources]]`` is index 1 and ``[[alerts.channels]]`` nests under the
current ``[alerts]``), dotted and quoted keys, and values that span lines
(multi-line strings and arrays, whose elements are numbered too).  Inline
tables are one line in TOML, so their keys map to that line.

It never raises: on text it does not understand it records less, and
:meth:`KeyLocator.line_of` falls back to the nearest recorded ancestor, then
to line 1.  It is only used after ``tomllib`` accepted the text.
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["KeyLocator", "KeyPath"]

KeyPath = tuple[str | int, ...]

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


class KeyLocator:
    """Line numbers (1-based) of the tables, keys and array elements in one TOML text."""

    def __init__(self, text: str) -> None:
        self._lines: dict[KeyPath, int] = {}
        self._arrays: dict[KeyPath, int] = {}
        self._scan(text.splitlines())

    def line_of(self, path: KeyPath) -> int:
        """The line where ``path`` (or its nearest recorded ancestor) is written; 1 if none."""
        for end in range(len(path), 0, -1):
            line = self._lines.get(tuple(path[:end]))
            if line is not None:
                return line
        return 1

    def exact(self, path: KeyPath) -> int | None:
        """The line of exactly ``path``, or None when it is not written in the text."""
        return self._lines.get(tuple(path))

    # -- scanning ---------------------------------------------------------

    def _scan(self, lines: list[str]) -> None:
        table: KeyPath = ()
        number = 0
        while number < len(lines):
            line = lines[number]
            stripped = line.strip()
            number += 1
            if not stripped or stripped.startswith("#"):
                continue
            if stripped.startswith("["):
                table = self._header(stripped, number)
                continue
            keys, rest = _split_key(stripped)
            if keys is None:
                continue
            path = table + tuple(keys)
            self._record(path, number)
            number = self._value(rest, path, lines, number)

    def _record(self, path: KeyPath, line: int) -> None:
        for end in range(1, len(path) + 1):
            self._lines.setdefault(tuple(path[:end]), line)
        self._lines[path] = line

    def _header(self, text: str, line: int) -> KeyPath:
        is_array = text.startswith("[[")
        inner = text[2:] if is_array else text[1:]
        keys, _ = _parse_keys(inner)
        if not keys:
            return ()
        parent = self._concrete(keys[:-1])
        path = (*parent, keys[-1])
        if is_array:
            index = self._arrays.get(path, -1) + 1
            self._arrays[path] = index
            path = (*path, index)
        else:
            path = self._concrete(keys)
        self._record(path, line)
        return path

    def _concrete(self, keys: list[str]) -> KeyPath:
        """Insert the current index after every prefix that is an array of tables."""
        out: list[str | int] = []
        for key in keys:
            out.append(key)
            index = self._arrays.get(tuple(out))
            if index is not None:
                out.append(index)
        return tuple(out)

    def _value(self, rest: str, path: KeyPath, lines: list[str], number: int) -> int:
        """Scan a value that may span lines; returns the number of the last line read."""
        scanner = _ValueScanner(path, number, self._record)
        scanner.feed(rest, number)
        while scanner.open and number < len(lines):
            number += 1
            scanner.feed(lines[number - 1], number)
        return number


class _ValueScanner:
    """Follows strings, brackets and braces of one value across lines."""

    def __init__(self, path: KeyPath, line: int, record: Callable[[KeyPath, int], None]) -> None:
        self.path = path
        self.record = record
        self.string: str | None = None  # the open quote: ", ', \"\"\" or '''
        self.stack: list[list[int]] = []  # per open array: [element index, expecting element]
        self.braces = 0

    @property
    def open(self) -> bool:
        return bool(self.string in ('"""', "'''") or self.stack or self.braces)

    def feed(self, text: str, line: int) -> None:
        i = 0
        while i < len(text):
            if self.string is not None:
                i = self._in_string(text, i)
                continue
            char = text[i]
            if char == "#":
                return
            if char.isspace():
                i += 1
                continue
            if self.stack and not self.braces and self.stack[-1][1] and char not in ",]":
                self._element(line)
            if text.startswith(('"""', "'''"), i):
                self.string = text[i : i + 3]
                i += 3
            elif char in "\"'":
                self.string = char
                i += 1
            elif char == "[":
                self.stack.append([-1, 1])
                i += 1
            elif char == "]":
                if self.stack:
                    self.stack.pop()
                i += 1
            elif char == "{":
                self.braces += 1
                i += 1
            elif char == "}":
                self.braces = max(0, self.braces - 1)
                i += 1
            elif char == ",":
                if self.stack and not self.braces:
                    self.stack[-1][1] = 1
                i += 1
            else:
                i += 1
        if self.string in ('"', "'"):
            self.string = None  # a basic string cannot span lines

    def _element(self, line: int) -> None:
        top = self.stack[-1]
        top[0] += 1
        top[1] = 0
        if len(self.stack) == 1:
            self.record((*self.path, top[0]), line)

    def _in_string(self, text: str, i: int) -> int:
        quote = self.string or ""
        while i < len(text):
            if quote[0] == '"' and text[i] == "\\":
                i += 2
                continue
            if text.startswith(quote, i):
                self.string = None
                return i + len(quote)
            i += 1
        return i


def _split_key(text: str) -> tuple[list[str] | None, str]:
    """Split ``key.sub = value`` into the key parts and the text after ``=``."""
    keys, rest = _parse_keys(text)
    rest = rest.lstrip()
    if not keys or not rest.startswith("="):
        return None, ""
    return keys, rest[1:]


def _parse_keys(text: str) -> tuple[list[str], str]:
    """Parse a dotted key at the start of ``text``; returns the parts and what follows."""
    keys: list[str] = []
    i = 0
    while True:
        while i < len(text) and text[i] in " \t":
            i += 1
        if i >= len(text):
            return keys, ""
        char = text[i]
        if char in "\"'":
            end = i + 1
            buf: list[str] = []
            while end < len(text) and text[end] != char:
                if char == '"' and text[end] == "\\" and end + 1 < len(text):
                    buf.append(_unescape(text[end + 1]))
                    end += 2
                    continue
                buf.append(text[end])
                end += 1
            keys.append("".join(buf))
            i = end + 1
        else:
            match = _BARE_KEY.match(text, i)
            if match is None:
                return keys, text[i:]
            keys.append(match.group())
            i = match.end()
        while i < len(text) and text[i] in " \t":
            i += 1
        if i < len(text) and text[i] == ".":
            i += 1
            continue
        return keys, text[i:]


def _unescape(char: str) -> str:
    return {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}.get(char, char)
