"""``wal-push``: PostgreSQL's ``archive_command``, storing one WAL file as a log segment."""

from __future__ import annotations

from pathlib import Path

import click

from sitesnap.cli.context import AppContext, pass_app
from sitesnap.cli.walsource import postgres_source


@click.command("wal-push")
@click.option("--source", "source_name", default=None, help="The postgres source (default: the only continuous one).")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_app
def wal_push(app: AppContext, source_name: str | None, path: Path) -> None:
    """Store the WAL file PATH (archive_command = 'sitesnap -c FILE wal-push %p').

    Exits 0 once the file is stored (or was already), non-zero otherwise so
    the server keeps the file and retries.
    """
    from sitesnap.engine.pgarchive import push_wal

    source = postgres_source(app, source_name)
    with app.open_repo() as repo, repo.lock(operation="wal-push"):
        repo.load_index()
        outcome = push_wal(repo, source.name, path)
    if app.output.json_mode:
        app.output.json({"file": path.name, "outcome": outcome})
    else:
        app.output.always(f"{path.name}: {outcome}")


COMMANDS = [wal_push]
