"""Site-level backup and restore (with ``-c sitesnap.toml``), and ``init-site``."""

from __future__ import annotations

import sys

import click
from rich.table import Table

from sitesnap.cli.context import AppContext, pass_app
from sitesnap.cli.output import human_bytes
from sitesnap.errors import UsageError


def site_backup(app: AppContext, tags: list[str], snapshot_type: str, sources: list[str], *, copy: bool) -> None:
    from sitesnap.engine.site import backup_site

    cfg = app.site(required=True)
    out = app.output
    with app.open_repo() as repo, out.progress("backup") as sink:
        result = backup_site(repo, cfg, snapshot_type=snapshot_type, tags=tags, sources=sources or None, sink=sink)
        outcomes = []
        if copy:
            from sitesnap.engine.copy import copy_after_backup

            outcomes = copy_after_backup(repo, cfg, result.snapshot.id, source_url=app.repository_url(),
                                         default_password=app.password(), sink=sink)
    for w in result.archive.warnings:
        out.warn(f"{w.path}: {w.message}")
    if out.json_mode:
        out.json_line({"message_type": "summary", **result.to_json(), "copies": [o.to_json() for o in outcomes]})
        for o in outcomes:
            if o.status != "ok":
                out.warn(f"copy to {o.repository} failed: {o.error}")
        return
    for rec in result.sources:
        rows = sum(rec.get("tables", {}).values()) if rec.get("tables") else None
        extra = f", {len(rec['tables'])} tables, {rows} rows" if rows is not None else ""
        out.always(f"  {rec['name']:<12} {rec['kind']:<8} {human_bytes(int(rec.get('size', 0))):>12}{extra}")
    a = result.archive
    out.always(f"Added to the repository: {human_bytes(a.bytes_added)} (read {human_bytes(a.bytes_read)})")
    out.always(f"snapshot {result.snapshot.short_id} ({snapshot_type}) of site {cfg.site.name} "
               f"saved in {result.duration:.2f}s")
    from sitesnap.cli.commands.maintain import show_copy_outcomes

    show_copy_outcomes(app, outcomes)


def _parse_targets(targets: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for t in targets:
        name, sep, where = t.partition("=")
        if not sep or not name or not where:
            raise UsageError(f"--to expects NAME=TARGET, got {t!r}")
        out[name] = where
    return out


def site_restore(app: AppContext, ref: str | None, at: str | None, sources: list[str], targets: list[str], *,
                 dry_run: bool, yes: bool, safety: bool) -> None:
    from sitesnap.engine.site import plan_site_restore, select_snapshot

    cfg = app.site(required=True)
    out = app.output
    with app.open_repo() as repo:
        repo.load_index()
        snap = select_snapshot(repo, cfg.site.name, ref, at)
        plan = plan_site_restore(repo, cfg, snap, sources or None, _parse_targets(targets))
        if out.json_mode and dry_run:
            out.json({"message_type": "plan", **plan.to_json()})
            return
        if not out.json_mode:
            _show_plan(app, plan)
        if dry_run:
            return
        if plan.overwrites_live_data and not yes:
            if not sys.stdin.isatty():
                raise UsageError("this restore overwrites live data; confirm with --yes",
                                 hint="Review the plan with --dry-run first.")
            typed = click.prompt(f"Type the site name ({cfg.site.name}) to overwrite live data", err=True,
                                 default="", show_default=False)
            if typed != cfg.site.name:
                raise UsageError("not confirmed; nothing was changed")
        with out.progress("restore") as sink:
            plan.execute(safety=safety, sink=sink, on_step=lambda m: out.print(f"[dim]{m}[/]"))
    if out.json_mode:
        out.json_line({"message_type": "summary", **plan.to_json()})
        return
    if plan.safety_snapshot:
        out.always(f"pre-restore snapshot {plan.safety_snapshot[:8]} holds the previous state "
                   f"(undo: sitesnap restore {plan.safety_snapshot[:8]})")
    for item in plan.items:
        verified = "row counts verified" if item.kind != "files" else "every blob verified"
        out.always(f"restored {item.source} -> {item.target} ({verified})")
        if item.result.get("kept_damaged"):
            out.always(f"  the damaged database was kept as {item.result['kept_damaged']}")


def _show_plan(app: AppContext, plan: object) -> None:
    from sitesnap.engine.site import RestorePlan

    assert isinstance(plan, RestorePlan)
    out = app.output
    out.always(f"Restore plan: snapshot {plan.snapshot.short_id} of {plan.snapshot.time.astimezone():%Y-%m-%d %H:%M:%S}"
               f" ({plan.snapshot.type})")
    table = Table(box=None, header_style="bold")
    for col in ("Source", "Kind", "Target", "Mode", "Overwrite", "Create", "Delete", "Rows before → after"):
        table.add_column(col)
    for i in plan.items:
        mode = ("in place" if i.exists else "create") if i.in_place else ("overwrite" if i.exists else "new")
        rows = ""
        if i.kind != "files":
            before = sum(i.before.values()) if i.exists else 0
            rows = f"{before} → {sum(i.after.values())} ({len(i.after)} tables)"
        if i.damaged:
            mode = "replace damaged"
            rows = f"unreadable → {sum(i.after.values())}"
        table.add_row(i.source, i.kind, i.target, mode,
                      str(i.overwrite) if i.kind == "files" else ("database" if i.exists else "-"),
                      str(i.create) if i.kind == "files" else "", str(i.delete) if i.kind == "files" else "", rows)
    out.console.print(table)
    for i in plan.items:
        if i.damaged:
            out.always(f"{i.source}: the current database is unreadable ({i.damaged}); it will be kept aside, "
                       "not snapshotted.")
    if plan.overwrites_live_data:
        out.always("Live data will be overwritten; a pre-restore snapshot is taken first.")


@click.command(name="init-site")
@click.option("--flask-app", "flask_app", required=True, metavar="PATH_OR_MODULE",
              help="The Flask app: path/to/app.py, package.module, module:app or module:create_app().")
@click.option("--repo-url", "repo_url", default=None, help="Repository URL for the config (default: ./backups).")
@click.option("-o", "--output", "output_path", default="sitesnap.toml", show_default=True,
              type=click.Path(dir_okay=False), help="Where to write the configuration.")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@pass_app
def init_site(app: AppContext, flask_app: str, repo_url: str | None, output_path: str, force: bool) -> None:
    """Write a sitesnap.toml for a Flask app from its SQLALCHEMY_DATABASE_URI and UPLOAD_FOLDER."""
    import os

    from sitesnap.config.detect import detect_flask_app, render_config

    if os.path.exists(output_path) and not force:
        raise UsageError(f"{output_path} exists; use --force to overwrite it")
    detected = detect_flask_app(flask_app)
    text = render_config(detected, repo_url or "backups")
    tmp = f"{output_path}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, output_path)
    if app.output.json_mode:
        app.output.json({"message_type": "written", "path": output_path})
    else:
        app.output.always(f"wrote {output_path}")
        app.output.print(text)


COMMANDS = [init_site]
