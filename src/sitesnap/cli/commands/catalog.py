"""``catalog rebuild``: recreate the catalog's records from a repository."""

from __future__ import annotations

import click

from sitesnap.cli.context import AppContext, open_site_catalog, pass_app


@click.group(name="catalog")
def catalog_group() -> None:
    """The catalog database (a cache of the repositories)."""


@catalog_group.command(name="rebuild")
@click.option("--repository", default=None, help="Repository name (default: the primary).")
@pass_app
def catalog_rebuild(app: AppContext, repository: str | None) -> None:
    """Recreate the site's backup records from the repository's snapshots."""
    from sitesnap.runtime.jobs import rebuild_catalog

    cfg = app.site(required=True)
    with open_site_catalog(cfg) as catalog:
        repo_cfg = app.site_repository(cfg, repository)
        report = rebuild_catalog(cfg, catalog, repository=repo_cfg.name, password=app.job_password(repo_cfg))
    out = app.output
    if out.json_mode:
        out.json({"message_type": "summary", **report.to_dict()})
        return
    out.always(f"{len(report.written)} record(s) written, {len(report.removed)} removed "
               f"from repository {report.repository}")
    for sid in report.damaged:
        out.warn(f"snapshot {sid[:8]} is damaged and was skipped")


COMMANDS = [catalog_group]
