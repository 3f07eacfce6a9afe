"""Site-level backup and restore (with ``-c sitesnap.toml``), and ``init-site``."""

from __future__ import annotations

import sys
from typing import Any

import click
from rich.table import Table

from sitesnap.cli.context import AppContext, open_site_catalog, pass_app
from sitesnap.cli.output import human_bytes
from sitesnap.errors import Interrupted, UsageError
from sitesnap.errorwire import error_from_dict


def site_backup(app: AppContext, tags: list[str], snapshot_type: str, sources: list[str], *, copy: bool,
                in_process: bool = False) -> None:
    """Back up the site through the recorded-job runner, so the catalog, status and alerts see it.

    When the site's scheduler runs on this machine, the backup runs there
    (see :mod:`sitesnap.runtime.handoff`) unless ``in_process``, ``-r`` or
    ``--write-only-key`` is given; otherwise it runs in this process.
    """
    params = {"type": snapshot_type, "tags": tags, "sources": sources, "copy": copy}
    config_file = app.config_file()
    may_hand_off = not (in_process or app.repo_url or app.write_only_key)
    if config_file and may_hand_off and _hand_off(app, config_file, params):
        return
    cfg = app.site(required=True)
    repo_cfg = app.site_repository(cfg)
    params["repository"] = repo_cfg.name
    password = app.job_password(repo_cfg)
    app.warm_up_key(password)  # the key derivation overlaps the imports below
    from sitesnap.runtime.jobs import run_job

    out = app.output
    with open_site_catalog(cfg) as catalog, out.progress("backup") as sink:
        run = run_job("backup", cfg, params, catalog=catalog, triggered_by="cli", sink=sink, password=password)
    _show_backup(app, run.to_dict(), snapshot_type, cfg.site.name, ran_in="cli")
    run.raise_for_error()
    _raise_for_copies(run.result)


def _hand_off(app: AppContext, config_file: str, params: dict[str, Any]) -> bool:
    """Run the backup in the site's scheduler and show it as if run here; False when there is none to take it."""
    from sitesnap.runtime.handoff import Refused, hand_off_backup, progress_from

    out = app.output
    try:
        handoff = hand_off_backup(config_file, params)
    except Refused as refused:
        out.warn(f"{refused.reason}; backing up in this process")
        return False
    if handoff is None:
        return False
    result: dict[str, Any] = {}
    try:
        with out.progress("backup") as sink:
            for event in handoff.events():
                kind = event.get("message_type")
                if kind == "status":
                    sink(progress_from(event))
                elif kind == "warning":
                    out.warn(str(event.get("message", "")))
                elif kind == "result":
                    result = event
    except KeyboardInterrupt:
        raise Interrupted(f"the site's scheduler carries on with run {handoff.run_id[:8]}",
                          hint="See 'sitesnap runs'.") from None
    finally:
        handoff.close()
    _show_backup(app, result, str(params["type"]), handoff.site, ran_in="scheduler")
    if result.get("error"):
        raise error_from_dict(result["error"])
    _raise_for_copies(result.get("result") or {})
    return True


def _raise_for_copies(result: dict[str, Any]) -> None:
    """A saved backup whose configured copy failed exits with :class:`~sitesnap.errors.CopyFailed`."""
    if all(c.get("status") == "ok" for c in result.get("copies", [])):
        return  # without importing the engine, which a handed-off backup does not load
    from sitesnap.engine.copy import CopyOutcome, raise_for_failed_copies

    outcomes = [CopyOutcome(**c) for c in result.get("copies", [])]
    raise_for_failed_copies(outcomes, str(result.get("snapshot_id", "")))


def _show_backup(app: AppContext, run: dict[str, Any], snapshot_type: str, site: str, *, ran_in: str) -> None:
    """The lines a site backup ends with, from ``RunResult.to_dict()``, wherever it ran."""
    out = app.output
    result: dict[str, Any] = run.get("result") or {}
    run_id, ok = str(run.get("run_id", "")), run.get("status") == "completed"
    for w in result.get("warnings", []):
        out.warn(f"{w['path']}: {w['message']}")
    copies = result.get("copies", [])
    if out.json_mode:
        out.json_line({"message_type": "summary", "run_id": run_id, "ran_in": ran_in, **result})
    else:
        for rec in result.get("sources", []):
            rows = sum(rec.get("tables", {}).values()) if rec.get("tables") else None
            extra = f", {len(rec['tables'])} tables, {rows} rows" if rows is not None else ""
            out.always(f"  {rec['name']:<12} {rec['kind']:<8} {human_bytes(int(rec.get('size', 0))):>12}{extra}")
        if ok:
            out.always(f"Added to the repository: {human_bytes(result.get('bytes_added', 0))} "
                       f"(read {human_bytes(result.get('bytes_read', 0))})")
            out.always(f"snapshot {result['short_id']} ({snapshot_type}) of site {site} "
                       f"saved in {result.get('duration', 0):.2f}s (run {run_id[:8]})")
        for c in copies:
            status = c.get("status")
            detail = f": {c.get('error')}" if c.get("error") else f", {human_bytes(int(c.get('bytes_sent', 0)))} sent"
            out.always(f"copy to {c.get('repository')}: {status}{detail}")
    for c in copies:
        if c.get("status") != "ok" and out.json_mode:
            out.warn(f"copy to {c.get('repository')} failed: {c.get('error')}")


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
    app.site_repository(cfg)  # -r must name one of the site's repositories
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
    from sitesnap.runtime.jobs import run_job

    repo_cfg = app.site_repository(cfg)
    params = {"snapshot": snap.id, "sources": [i.source for i in plan.items], "targets": _parse_targets(targets),
              "safety": safety, "repository": repo_cfg.name}
    with open_site_catalog(cfg) as catalog, out.progress("restore") as sink:
        run = run_job("restore", cfg, params, catalog=catalog, triggered_by="cli", sink=sink,
                      password=app.job_password(repo_cfg))
    run.raise_for_error()
    result = run.result
    if out.json_mode:
        out.json_line({"message_type": "summary", "run_id": run.run_id, **result})
        return
    if result.get("safety_snapshot"):
        short = result["safety_snapshot"][:8]
        out.always(f"pre-restore snapshot {short} holds the previous state (undo: sitesnap restore {short})")
    for item in result.get("items", []):
        verified = "row counts verified" if item["kind"] != "files" else "every blob verified"
        out.always(f"restored {item['source']} -> {item['target']} ({verified})")
        if item.get("result", {}).get("kept_damaged"):
            out.always(f"  the damaged database was kept as {item['result']['kept_damaged']}")


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
