"""``diff``: what changed between two snapshots."""

from __future__ import annotations

import click

from sitesnap.cli.context import AppContext, pass_app


@click.command()
@click.argument("snapshot_a")
@click.argument("snapshot_b")
@click.option("--source", help="Only this source of a site; for a database, rows added/removed/changed per table.")
@click.option("--table", help="With a database --source: the rows of this table that differ, by primary key.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(min=1), help="Rows shown with --table.")
@pass_app
def diff(app: AppContext, snapshot_a: str, snapshot_b: str, source: str | None, table: str | None,
         limit: int) -> None:
    """Show what changed from SNAPSHOT_A to SNAPSHOT_B (+ added, - removed, M modified, T type, U metadata)."""
    from sitesnap.engine.browse import diff_trees

    out = app.output
    if source or table:
        from sitesnap.cli.diffview import show_source_diff

        show_source_diff(app, snapshot_a, snapshot_b, source, table, limit)
        return
    with app.open_repo() as repo:
        repo.load_index()
        a = repo.find_snapshot(snapshot_a)
        b = repo.find_snapshot(snapshot_b)
        changes = list(diff_trees(repo, a.tree, b.tree))
    if out.json_mode:
        out.json({"from": a.id, "to": b.id, "changes": [c.to_json() for c in changes]})
        return
    for c in changes:
        out.always(f"{c.change}    {c.path}")
    counts = {k: sum(1 for c in changes if c.change == k) for k in "+-MTU"}
    out.print(f"\n{counts['+']} added, {counts['-']} removed, {counts['M']} modified, "
              f"{counts['T']} type changed, {counts['U']} metadata only")


COMMANDS = [diff]
