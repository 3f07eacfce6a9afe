"""``wal-fetch``: PostgreSQL's ``restore_command``, writing one WAL file from the log stream."""

from __future__ import annotations

from pathlib import Path

import click

from sitesnap.cli.context import AppContext, pass_app
from sitesnap.cli.walsource import postgres_source


@click.command("wal-fetch")
@click.option("--source", "source_name", default=None, help="The postgres source (default: the only continuous one).")
@click.argument("name")
@click.argument("dest", type=click.Path(dir_okay=False, path_type=Path))
@pass_app
def wal_fetch(app: AppContext, source_name: str | None, name: str, dest: Path) -> None:
    """Write WAL file NAME to DEST (restore_command = 'sitesnap -c FILE wal-fetch %f %p').

    Exits non-zero when the repository does not hold NAME, which is how
    recovery learns it reached the end of the archived WAL.
    """
    from sitesnap.engine.pgarchive import fetch_wal

    source = postgres_source(app, source_name)
    with app.open_repo() as repo, repo.lock(operation="wal-fetch"):
        repo.load_index()
        fetch_wal(repo, source.name, name, dest)
    if app.output.json_mode:
        app.output.json({"file": name, "written": str(dest)})


COMMANDS = [wal_fetch]
