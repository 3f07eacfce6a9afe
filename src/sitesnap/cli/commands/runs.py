"""``runs``: recorded runs from the site's catalog."""

from __future__ import annotations

import click

from sitesnap.cli.context import AppContext, open_site_catalog, pass_app


@click.command()
@click.option("--kind", default=None, help="Only runs of this kind.")
@click.option("--status", default=None, help="Only runs in this status.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 500))
@pass_app
def runs(app: AppContext, kind: str | None, status: str | None, limit: int) -> None:
    """List the site's recorded runs, newest first (abandoned ones are closed as failed)."""
    from sitesnap.runtime.jobs import reap_stale_runs

    cfg = app.site(required=True)
    with open_site_catalog(cfg) as catalog:
        reap_stale_runs(catalog, site=cfg.site.name)
        page = catalog.list_runs(site=cfg.site.name, kind=kind, status=status, per_page=limit)
    out = app.output
    if out.json_mode:
        out.json({"total": page.total, "runs": [r.to_dict() for r in page.items]})
        return
    if not page.items:
        out.always("no runs recorded")
        return
    out.always(f"{'RUN':<8}  {'CREATED':<19}  {'KIND':<8} {'STATUS':<10} {'TRIGGER':<9} {'TOOK':>7}  ERROR")
    for r in page.items:
        took = f"{(r.finished_at - r.started_at).total_seconds():.1f}s" if r.finished_at and r.started_at else ""
        error = f"  {_error_text(r.error_code, r.error_message)}" if r.error_message else ""
        out.always(f"{r.id[:8]}  {r.created_at.astimezone():%Y-%m-%d %H:%M:%S}  {r.kind:<8} {r.status:<10} "
                   f"{r.triggered_by:<9} {took:>7}{error}")



def _error_text(code: str | None, message: str) -> str:
    """``code: message``, without saying the code twice when the message starts with it
    (``interrupted: run abandoned...``, not ``interrupted: Interrupted: run abandoned...``)."""
    if not code:
        return message
    head, sep, rest = message.partition(": ")
    return f"{code}: {rest if sep and head.lower() == code.lower() else message}"


COMMANDS = [runs]
