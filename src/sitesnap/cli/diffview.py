"""Rendering of ``diff --source``: a source's files, its tables' row counts, or one table's rows."""

from __future__ import annotations

from sitesnap.cli.context import AppContext
from sitesnap.cli.output import Output
from sitesnap.engine.rowdiff import TableRowDiff
from sitesnap.engine.sourcediff import SourceDiff
from sitesnap.errors import UsageError
from sitesnap.sources.sqlvalues import Value

__all__ = ["show_source_diff"]


def show_source_diff(app: AppContext, snapshot_a: str, snapshot_b: str, source: str | None, table: str | None,
                     limit: int) -> None:
    """Open the repository, diff one source of two snapshots, print the result (or its JSON)."""
    from sitesnap.engine.sourcediff import diff_source

    if not source:
        raise UsageError("--table needs --source NAME", hint="Name the database source the table belongs to.")
    out = app.output
    with app.open_repo() as repo:
        repo.load_index()
        a = repo.find_snapshot(snapshot_a)
        b = repo.find_snapshot(snapshot_b)
        result = diff_source(repo, a, b, source, table=table, limit=limit)
    if out.json_mode:
        out.json({"from": a.id, "to": b.id, **result.to_json()})
        return
    if result.files is not None:
        for c in result.files:
            out.always(f"{c.change}    {c.path}")
        out.print(f"\n{len(result.files)} change(s) in {result.path}")
    elif result.rows is not None:
        _show_rows(out, result.rows)
    else:
        _show_tables(out, result)


def _show_tables(out: Output, result: SourceDiff) -> None:
    assert result.tables is not None
    changed = [t for t in result.tables if not t.unchanged]
    for t in changed:
        out.always(f"{t.table}: +{t.added} -{t.removed} ~{t.changed}  ({t.rows_before} -> {t.rows_after} rows)")
    out.print(f"\n{len(changed)} table(s) changed, {len(result.tables) - len(changed)} unchanged in {result.path}")


def _show(value: Value) -> str:
    return "NULL" if value is None else repr(value)


def _show_rows(out: Output, diff: TableRowDiff) -> None:
    for change in diff.changes:
        key = ", ".join(f"{k}={_show(v)}" for k, v in change.key.items())
        if change.change == "M" and change.old is not None and change.new is not None:
            old, new = change.old, change.new
            fields = "; ".join(f"{col}: {_show(old.get(col))} -> {_show(new.get(col))}"
                               for col in new if old.get(col) != new.get(col))
            out.always(f"M    {key}    {fields}")
        else:
            row = change.new if change.change == "+" else change.old
            shown = ", ".join(f"{col}={_show(v)}" for col, v in (row or {}).items() if col not in change.key)
            out.always(f"{change.change}    {key}    {shown}".rstrip())
    c = diff.counts
    more = f" (first {len(diff.changes)} shown; raise --limit for more)" if diff.truncated else ""
    out.print(f"\n{diff.table}: {c.added} added, {c.removed} removed, {c.changed} changed{more}")
