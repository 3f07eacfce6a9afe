"""``snapshots``: list the repository's snapshots (with a site config, with their copies)."""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table

from sitesnap.cli.context import AppContext, pass_app
from sitesnap.cli.output import human_bytes
from sitesnap.format.snapshot import Snapshot


def snapshot_json(s: Snapshot) -> dict[str, Any]:
    return {
        "id": s.id,
        "short_id": s.short_id,
        "time": s.time.isoformat(),
        "paths": s.paths,
        "tags": s.tags,
        "type": s.type,
        "hostname": s.hostname,
        "username": s.username,
        "site": s.site,
        "parent": s.parent,
        "sources": s.sources,
        "summary": s.summary,
        "program_version": s.program_version,
        "original": s.original,
    }


@click.command()
@click.option("--tag", "tags", multiple=True, help="Only snapshots with this tag.")
@click.option("--type", "types", multiple=True, help="Only snapshots of this type.")
@click.option("--latest", type=int, default=0, help="Only the newest N snapshots.")
@pass_app
def snapshots(app: AppContext, tags: tuple[str, ...], types: tuple[str, ...], latest: int) -> None:
    """List snapshots, oldest first.

    With a site config, the catalog's records are brought in step with the
    site's primary repository on the way (the console then lists what the
    repository has, whoever changed it).
    """
    out = app.output
    with app.open_repo() as repo:
        snaps = repo.load_snapshots(on_error=lambda sid, exc: out.warn(f"snapshot {sid[:8]}: {exc}"))
        _reconcile(app, repo)
    snaps = [s for s in snaps if (not tags or set(tags) & set(s.tags)) and (not types or s.type in types)]
    if latest:
        snaps = snaps[-latest:]
    copies = _copy_status(app)
    if out.json_mode:
        out.json([{**snapshot_json(s), **({"copies": copies.get(s.id, {})} if copies is not None else {})}
                  for s in snaps])
        return
    table = Table(box=None, header_style="bold")
    for col in ("ID", "Time", "Type", "Host", "Tags", "Paths / sources", "Size", *(("Copies",) if copies else ())):
        # A narrow terminal wraps long paths and source lists instead of cutting them short.
        table.add_column(col, overflow="fold", no_wrap=col in ("ID", "Time", "Size"))
    for s in snaps:
        what = ", ".join(src.get("name", "?") for src in s.sources) if s.sources else "\n".join(s.paths)
        copied = [", ".join(f"{r}: {c['status']}" for r, c in copies.get(s.id, {}).items())] if copies else []
        table.add_row(s.short_id, s.time.astimezone().strftime("%Y-%m-%d %H:%M:%S"), s.type, s.hostname,
                      ",".join(s.tags), what, human_bytes(int(s.summary.get("bytes_total", 0))), *copied)
    out.console.print(table)
    out.print(f"{len(snaps)} snapshot(s)")


def _reconcile(app: AppContext, repo: Any) -> None:
    """Reconcile the site's catalog with its primary repository; a catalog that cannot be reached is a warning."""
    cfg = app.site()
    repo_cfg = app.repository_config() if cfg is not None else None
    if cfg is None or repo_cfg is None or repo_cfg.name != cfg.primary.name:
        return
    from sitesnap.cli.context import open_site_catalog
    from sitesnap.errors import SitesnapError
    from sitesnap.runtime.jobs.reconcile import reconcile_records

    try:
        with open_site_catalog(cfg) as catalog:
            done = reconcile_records(catalog, cfg, repo_cfg, repo)
    except SitesnapError as exc:
        app.output.warn(f"catalog not reconciled with the repository: {exc.message}")
        return
    if done.changed:
        app.output.print(f"catalog: {len(done.added)} record(s) added, {len(done.removed)} removed to match "
                         "the repository")


def _copy_status(app: AppContext) -> dict[str, dict[str, Any]] | None:
    """With a site config: snapshot ID -> repository -> latest copy result (copies.jsonl)."""
    cfg = app.site()
    if cfg is None:
        return None
    from sitesnap.engine.copy import load_copy_status

    return load_copy_status(cfg.runtime.state_dir)


COMMANDS = [snapshots]
