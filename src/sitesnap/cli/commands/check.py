"""``check``: verify the repository's structure and, with ``--read-data``, all its data."""

from __future__ import annotations

import click

from sitesnap.cli.context import AppContext, pass_app
from sitesnap.errors import IntegrityError


@click.command()
@click.option("--read-data", is_flag=True, help="Also read and verify every pack (every byte).")
@click.option("--read-data-subset", metavar="N%|A/B", help="Read only a random subset of packs, e.g. 10%.")
@pass_app
def check(app: AppContext, read_data: bool, read_data_subset: str | None) -> None:
    """Verify the repository's structure and, with --read-data, all its data.

    Exits with the integrity error code (14) and names every damaged object
    when anything is wrong.
    """
    from sitesnap.repository.check import check_repository, parse_subset

    out = app.output
    subset = parse_subset(read_data_subset)
    with app.open_repo() as repo, repo.lock(operation="check"), out.progress("check") as sink:
        report = check_repository(repo, read_data=read_data or subset is not None, subset=subset, sink=sink)
    if out.json_mode:
        out.json_line({"message_type": "summary", **report.to_json()})
    else:
        for w in report.warnings:
            out.warn(w)
        for e in report.errors:
            click.echo(f"error: {e}", err=True)
        out.always(f"checked {report.snapshots} snapshots, {report.trees} trees, {report.packs} packs"
                   + (f"; read {report.packs_read} packs, {report.blobs_read} blobs" if report.packs_read else ""))
    if not report.ok:
        raise IntegrityError(f"{len(report.errors)} problem(s) found; first: {report.errors[0]}")
    if not out.json_mode:
        out.always("no errors were found")


COMMANDS = [check]
