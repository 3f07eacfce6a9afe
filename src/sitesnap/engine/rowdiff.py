"""Row-level differences between two copies of one database (two snapshots of a source).

Works on any :class:`RowReader` (a stored dump or a SQLite file): rows are
matched by primary key, and a row is *changed* when its key is on both sides
and its dumped form differs.  A table without a primary key is compared as a
multiset of whole rows (changes show as removed and added rows).

Memory: tables whose fingerprints (row count and order-free row-digest sum,
see :mod:`sitesnap.sources.dumprows`) are equal are never read again; for the
others one key and one 64-bit digest per row is held.  Row values are read
only for the at most ``limit`` rows shown.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sitesnap.errors import UsageError
from sitesnap.sources.dumprows import RowReader, TableInfo, row_digest
from sitesnap.sources.sqlvalues import Value

__all__ = ["RowChange", "RowReader", "TableDiff", "TableRowDiff", "diff_table", "summarize_tables"]

Key = tuple[Value, ...]


@dataclass(frozen=True)
class TableDiff:
    """Row counts of one table in both snapshots, and how many rows were added, removed and changed."""

    table: str
    rows_before: int
    rows_after: int
    added: int = 0
    removed: int = 0
    changed: int = 0

    @property
    def unchanged(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def to_json(self) -> dict[str, Any]:
        return {"table": self.table, "rows_before": self.rows_before, "rows_after": self.rows_after,
                "added": self.added, "removed": self.removed, "changed": self.changed}


@dataclass(frozen=True)
class RowChange:
    change: str  # "+", "-" or "M"
    key: dict[str, Value]
    old: dict[str, Value] | None = None
    new: dict[str, Value] | None = None

    def to_json(self) -> dict[str, Any]:
        return {"change": self.change, "key": self.key, "old": self.old, "new": self.new}


@dataclass
class TableRowDiff:
    table: str
    key_columns: list[str]
    counts: TableDiff
    changes: list[RowChange] = field(default_factory=list)
    truncated: bool = False

    def to_json(self) -> dict[str, Any]:
        return {**self.counts.to_json(), "key_columns": self.key_columns, "truncated": self.truncated,
                "rows": [c.to_json() for c in self.changes]}


def _key_positions(info: TableInfo | None, other: TableInfo | None) -> list[int] | None:
    """Column positions of the primary key shared by both sides, or None (compare whole rows)."""
    if info is None or not info.primary_key or not info.columns:
        return None
    if other is not None and other.primary_key and other.primary_key != info.primary_key:
        return None
    if not set(info.primary_key) <= set(info.columns):
        return None
    return [info.columns.index(col) for col in info.primary_key]


def _keyed(reader: RowReader, tables: dict[str, TableInfo], other: dict[str, TableInfo],
           only: set[str]) -> dict[str, dict[Key, int]]:
    """Table -> key -> row digest, for the tables in ``only``."""
    out: dict[str, dict[Key, int]] = {name: {} for name in only}
    keys = {name: _key_function(_key_positions(tables.get(name), other.get(name))) for name in only}
    for table, raw, values in reader.rows(only & set(tables)):
        out[table][keys[table](values)] = row_digest(raw)
    return out


def _key_function(positions: list[int] | None) -> Callable[[list[Value]], Key]:
    """How a row's key is taken from its values: the primary key, else the whole row and its occurrence."""
    if positions is None:
        seen: Counter[Key] = Counter()

        def whole(values: list[Value]) -> Key:
            row = tuple(values)
            seen[row] += 1
            return (*row, f"#{seen[row]}")

        return whole
    if len(positions) == 1:
        (only,) = positions
        return lambda values: (values[only] if only < len(values) else None,)
    return lambda values: tuple(values[i] if i < len(values) else None for i in positions)


def _counts(name: str, a: TableInfo | None, b: TableInfo | None, left: dict[Key, int],
            right: dict[Key, int]) -> TableDiff:
    changed = sum(1 for key, digest in left.items() if key in right and right[key] != digest)
    return TableDiff(name, a.rows if a else 0, b.rows if b else 0, added=len(right.keys() - left.keys()),
                     removed=len(left.keys() - right.keys()), changed=changed)


def summarize_tables(a: RowReader, b: RowReader) -> list[TableDiff]:
    """Every table of either side, sorted by name, with its added / removed / changed row counts."""
    tables_a, tables_b = a.scan(), b.scan()
    names = sorted(tables_a.keys() | tables_b.keys())
    differing = {n for n in names if _fingerprint(tables_a.get(n)) != _fingerprint(tables_b.get(n))}
    left, right = _keyed(a, tables_a, tables_b, differing), _keyed(b, tables_b, tables_a, differing)
    out = []
    for name in names:
        info_a, info_b = tables_a.get(name), tables_b.get(name)
        if name in differing:
            out.append(_counts(name, info_a, info_b, left[name], right[name]))
        else:
            out.append(TableDiff(name, info_a.rows if info_a else 0, info_b.rows if info_b else 0))
    return out


def _fingerprint(info: TableInfo | None) -> tuple[int, int] | None:
    return None if info is None else (info.rows, info.fingerprint)


def resolve_table(name: str, tables: set[str]) -> str:
    """``name`` as the dump calls it: exact, or ``schema.name`` when one schema has it."""
    if name in tables:
        return name
    matches = sorted(t for t in tables if t.rsplit(".", 1)[-1] == name)
    if len(matches) == 1:
        return matches[0]
    hint = f"Tables: {', '.join(sorted(tables))}" if len(tables) <= 30 else "List them with --source alone."
    what = "is ambiguous" if matches else "is in neither snapshot"
    raise UsageError(f"table {name!r} {what}", hint=hint)


_INTEGER = re.compile(r"-?[0-9]+")


def _sort_key(key: Key) -> tuple[tuple[int, int, str], ...]:
    out = []
    for value in key:
        if value is None:
            out.append((2, 0, ""))
        elif _INTEGER.fullmatch(value):
            out.append((0, int(value), ""))
        else:
            out.append((1, 0, value))
    return tuple(out)


def diff_table(a: RowReader, b: RowReader, table: str, limit: int) -> TableRowDiff:
    """The rows of ``table`` added, removed and changed, the first ``limit`` of them (by key) in full."""
    tables_a, tables_b = a.scan(), b.scan()
    name = resolve_table(table, set(tables_a) | set(tables_b))
    info_a, info_b = tables_a.get(name), tables_b.get(name)
    left = _keyed(a, tables_a, tables_b, {name})[name]
    right = _keyed(b, tables_b, tables_a, {name})[name]
    counts = _counts(name, info_a, info_b, left, right)
    kinds = {k: "+" for k in right.keys() - left.keys()}
    kinds.update({k: "-" for k in left.keys() - right.keys()})
    kinds.update({k: "M" for k, d in left.items() if k in right and right[k] != d})
    shown = sorted(kinds, key=_sort_key)[:limit]
    positions = _key_positions(info_b or info_a, info_a if info_b else None)
    info = info_b or info_a
    assert info is not None
    key_columns = list(info.primary_key) if positions is not None else list(info.columns)
    old = _values(a, tables_a, tables_b, name, {k for k in shown if kinds[k] != "+"})
    new = _values(b, tables_b, tables_a, name, {k for k in shown if kinds[k] != "-"})
    changes = [RowChange(kinds[k], dict(zip(key_columns, k, strict=False)), old.get(k), new.get(k)) for k in shown]
    return TableRowDiff(name, key_columns, counts, changes, truncated=len(kinds) > len(shown))


def _values(reader: RowReader, tables: dict[str, TableInfo], other: dict[str, TableInfo], name: str,
            wanted: set[Key]) -> dict[Key, dict[str, Value]]:
    """Column -> value of the rows with the ``wanted`` keys."""
    if not wanted or name not in tables:
        return {}
    info = tables[name]
    key_of = _key_function(_key_positions(info, other.get(name)))
    found: dict[Key, dict[str, Value]] = {}
    for _table, _raw, values in reader.rows({name}):
        key = key_of(values)
        if key in wanted:
            columns = info.columns or [f"column {i + 1}" for i in range(len(values))]
            found[key] = dict(zip(columns, values, strict=False))
    return found
