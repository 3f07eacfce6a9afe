"""``drill``: a restore drill through the recorded job runner, so one from the terminal is a run like any."""

from __future__ import annotations

from typing import Any

import click

from sitesnap.cli.context import AppContext, open_site_catalog, pass_app
from sitesnap.errors import UsageError


def _site(app: AppContext, name: str | None) -> Any:
    cfg = app.site(required=True)
    if name is not None and name != cfg.site.name:
        raise UsageError(f"--site {name}: the configuration is for site {cfg.site.name!r}",
                         hint="Pass that site's configuration with -c FILE.")
    return cfg


@click.command()
@click.option("--site", metavar="NAME", help="The site to drill (must match the configuration).")
@click.option("--snapshot", metavar="ID", help="Drill this snapshot instead of the latest.")
@click.option("--keep", is_flag=True, help="Keep the scratch directory and databases for inspection.")
@click.option("--read-data-subset", metavar="N%", help="Also read this share of the repository's packs.")
@click.option("--repository", metavar="NAME",
              help="Drill from this configured repository (default: the one -r names, or the primary).")
@pass_app
def drill(app: AppContext, site: str | None, snapshot: str | None, keep: bool,
          read_data_subset: str | None, repository: str | None) -> None:
    """Restore the latest snapshot into scratch places, verify it and time it (the RTO).

    Files go to a temporary directory, SQLite to a temporary file, PostgreSQL
    and MariaDB to a temporary database <db>_drill_<hex> on the source's
    server; all are removed afterwards.  The result is recorded and a
    failure raises the integrity alert.  Exits 14 when the drill fails.
    """
    from sitesnap.runtime.jobs import run_job

    cfg = _site(app, site)
    out = app.output
    repo_cfg = app.site_repository(cfg, repository)
    params: dict[str, Any] = {"keep": keep, "repository": repo_cfg.name}
    if snapshot:
        params["snapshot"] = snapshot
    if read_data_subset:
        params["read_data_subset"] = read_data_subset
    with open_site_catalog(cfg) as catalog, out.progress("drill") as sink:
        result = run_job("drill", cfg, params, catalog=catalog, triggered_by="cli", sink=sink,
                         password=app.job_password(repo_cfg))
    if out.json_mode:
        out.json_line({"message_type": "summary", **result.to_dict()})
    elif result.result.get("checks"):
        _show_drill(app, result.result)
    result.raise_for_error()


def _show_drill(app: AppContext, report: dict[str, Any]) -> None:
    out = app.output
    out.always(f"drill of snapshot {report['snapshot_id'][:8]} ({report['snapshot_time']})")
    for check in report["checks"]:
        mark = {"ok": "ok    ", "failed": "FAILED", "skipped": "skip  "}.get(check["status"], check["status"])
        out.always(f"  {mark} {check['name']:<16} {check['kind']:<10} {check['seconds']:>7.2f}s  {check['detail']}")
    for kept in report.get("kept") or []:
        out.always(f"  kept: {kept}")
    verdict = "passed" if report["ok"] else "FAILED"
    out.always(f"drill {verdict}; restore and verification took {report['rto_seconds']:.2f}s (RTO)")


COMMANDS = [drill]
