"""``check``: verify the repository's structure and, with ``--read-data``, all its data."""

from __future__ import annotations

from typing import Any

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
    when anything is wrong.  With a site configuration (and no -r), the
    check is a recorded run of the site's primary repository, so a damaged
    repository raises the integrity alert.
    """
    from sitesnap.repository.check import parse_subset

    subset = parse_subset(read_data_subset)
    if app.config_file() and not (app.repo_url or app.write_only_key):
        report, error = _site_check(app, read_data, read_data_subset)
    else:
        report, error = _repo_check(app, read_data or subset is not None, subset)
    _show_check(app, report)
    if error is not None:
        raise error
    if not app.output.json_mode:
        app.output.always("no errors were found")


def _repo_check(app: AppContext, read_data: bool, subset: float | None) -> tuple[dict[str, Any], Exception | None]:
    from sitesnap.repository.check import check_repository

    with app.open_repo() as repo, repo.lock(operation="check"), app.output.progress("check") as sink:
        report = check_repository(repo, read_data=read_data, subset=subset, sink=sink)
    error = None if report.ok else IntegrityError(f"{len(report.errors)} problem(s) found; first: {report.errors[0]}")
    return report.to_json(), error


def _site_check(app: AppContext, read_data: bool, subset: str | None) -> tuple[dict[str, Any], Exception | None]:
    from sitesnap.cli.context import open_site_catalog
    from sitesnap.runtime.jobs import run_job

    cfg = app.site(required=True)
    params = {"read_data": read_data, "subset": subset}
    with open_site_catalog(cfg) as catalog, app.output.progress("check") as sink:
        run = run_job("check", cfg, params, catalog=catalog, triggered_by="cli", sink=sink,
                      password=app.password() if cfg.primary.password is None else None)
    if "ok" not in run.result and run.error is not None:  # it never got to check (no repository, no password)
        raise run.error
    return run.result, run.error


def _show_check(app: AppContext, report: dict[str, Any]) -> None:
    out = app.output
    if out.json_mode:
        out.json_line({"message_type": "summary", **report})
        return
    for w in report["warnings"]:
        out.warn(w)
    for e in report["errors"]:
        click.echo(f"error: {e}", err=True)
    counts = f"{_n(report['snapshots'], 'snapshot')}, {_n(report['trees'], 'tree')}, {_n(report['packs'], 'pack')}"
    read = ""
    if report["packs_read"]:
        read = f"; read {_n(report['packs_read'], 'pack')}, {_n(report['blobs_read'], 'blob')}"
    out.always(f"checked {counts}{read}")


def _n(count: int, noun: str) -> str:
    """``1 snapshot``, ``2 snapshots``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


COMMANDS = [check]
