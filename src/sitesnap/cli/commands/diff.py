"""``diff``: what changed between two snapshots."""

from __future__ import annotations

import click

from sitesnap.cli.context import AppContext, pass_app


@click.command()
@click.argument("snapshot_a")
@click.argument("snapshot_b")
@pass_app
def diff(app: AppContext, snapshot_a: str, snapshot_b: str) -> None:
    """Show what changed from SNAPSHOT_A to SNAPSHOT_B (+ added, - removed, M modified, T type, U metadata)."""
    from sitesnap.engine.browse import diff_trees

    out = app.output
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
