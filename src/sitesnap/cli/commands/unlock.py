"""``unlock``: remove stale locks left by crashed processes."""

from __future__ import annotations

import click

from sitesnap.cli.context import AppContext, pass_app


@click.command()
@click.option("--remove-all", is_flag=True, help="Remove all locks, even live ones (only if nothing runs!).")
@pass_app
def unlock(app: AppContext, remove_all: bool) -> None:
    """Remove stale locks left by crashed processes."""
    with app.open_repo() as repo:
        removed = repo.remove_stale_locks(all_locks=remove_all)
    if app.output.json_mode:
        app.output.json({"removed": [lk.describe() for lk in removed]})
        return
    for lk in removed:
        app.output.always(f"removed {lk.describe()}")
    app.output.always(f"{len(removed)} lock(s) removed")


COMMANDS = [unlock]
