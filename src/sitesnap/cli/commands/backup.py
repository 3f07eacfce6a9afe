"""``backup``: paths into a repository, or the whole site of the config (see :func:`site_backup`)."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import click

from sitesnap.cli.context import AppContext, open_site_catalog, pass_app
from sitesnap.cli.output import human_bytes
from sitesnap.errors import Interrupted, UsageError
from sitesnap.errorwire import error_from_dict

INCOMPLETE_EXIT = 3


@click.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--tag", "tags", multiple=True, help="Tag the snapshot (repeatable).")
@click.option("--exclude", "excludes", multiple=True, help="gitignore-style pattern to leave out (repeatable).")
@click.option("--type", "snapshot_type", type=click.Choice(["incremental", "full", "snapshot", "realtime"]),
              default=None, help="Snapshot type; 'full' re-reads every file. Default: incremental for a site, "
              "manual for paths.")
@click.option("--source", "sources", multiple=True, help="With a site config: back up only this source (repeatable).")
@click.option("--no-copy", is_flag=True, help="With a site config: do not copy to the other repositories afterwards.")
@click.option("--in-process", is_flag=True,
              help="With a site config: run here even if the site's scheduler is running.")
@click.option("--checkpoint-interval", metavar="DURATION", default=None, show_default="5m",
              help="Index what was uploaded this often, so an interrupted backup's data is reused.")
@click.option("-n", "--dry-run", is_flag=True,
              help="With PATHS: read and chunk as a backup would, say what it would read and add; write nothing.")
@pass_app
def backup(app: AppContext, paths: tuple[str, ...], tags: tuple[str, ...], excludes: tuple[str, ...],
           snapshot_type: str | None, sources: tuple[str, ...], no_copy: bool, in_process: bool,
           checkpoint_interval: str | None, dry_run: bool) -> None:
    """Back up PATHS, or the whole site of the config when no PATHS are given.

    Unchanged files (same size, mtime, ctime and inode as in the parent
    snapshot) are not read again; only new chunks are stored.  Exits 3 (as
    restic does) when the snapshot was saved but some files, or a site's files
    folder, could not be read (its databases are backed up all the same).

    A whole-site backup runs in the site's scheduler when one is running on
    this machine (it has started up already), with the same output and exit
    code; Ctrl-C then leaves it running there.  Ctrl-C stops a backup run
    here within seconds (exit 130); what was uploaded is indexed and reused
    by the next backup.
    """
    out = app.output
    interval = _interval(checkpoint_interval)
    if dry_run:
        _dry_run(app, paths, excludes, snapshot_type == "full")
        return
    if not paths:
        site_backup(app, list(tags), snapshot_type or "incremental", list(sources), copy=not no_copy,
                    in_process=in_process, checkpoint_interval=interval)
        return
    app.warm_up_key()  # the key derivation overlaps the engine's imports and the prescan
    from sitesnap.engine.backup import backup_paths
    from sitesnap.sources.prescan import Prescan

    # Listing the tree needs no key: it starts now, while the repository opens.
    with (_stopping_message(), Prescan(paths, excludes) as prescan, app.open_repo() as repo,
          out.progress("backup") as sink):
        result = backup_paths(repo, list(paths), tags=list(tags), excludes=list(excludes),
                              snapshot_type=snapshot_type or "manual", read_all=snapshot_type == "full", sink=sink,
                              prescan=prescan, checkpoint_interval=interval)
    for w in result.archive.warnings:
        out.warn(f"{w.path}: {w.message}")
    if out.json_mode:
        out.json_line({"message_type": "summary", **result.to_json()})
    else:
        a = result.archive
        out.always(
            f"Files: {a.files_new} new, {a.files_changed} changed, {a.files_unchanged} unmodified; {a.dirs} directories"
        )
        out.always(f"Added to the repository: {human_bytes(a.bytes_added)} "
                   f"(read {human_bytes(a.bytes_read)} of {human_bytes(a.bytes_total)})")
        out.always(f"snapshot {result.snapshot.short_id} saved in {result.duration:.2f}s")
    unreadable = [w for w in result.archive.warnings if w.message.startswith("cannot ")]
    if unreadable:
        out.warn(f"{len(unreadable)} item(s) could not be read; the snapshot was saved without them")
        raise click.exceptions.Exit(INCOMPLETE_EXIT)



def _dry_run(app: AppContext, paths: tuple[str, ...], excludes: tuple[str, ...], read_all: bool) -> None:
    """``backup --dry-run PATHS``: the counts a backup would have, from the same walk; nothing written."""
    if not paths:
        raise UsageError("--dry-run works with PATHS (a site backup has none yet)",
                         hint="Give the folders to try, e.g. sitesnap -c sitesnap.toml backup -n uploads.")
    from sitesnap.engine.backup import dry_run_paths

    out = app.output
    with app.open_repo() as repo, out.progress("backup") as sink:
        summary = dry_run_paths(repo, list(paths), excludes=list(excludes), read_all=read_all, sink=sink)
    if out.json_mode:
        out.json_line({"message_type": "dry_run", **summary.to_json()})
        return
    for w in summary.warnings:
        out.warn(f"{w.path}: {w.message}")
    out.always(f"Would back up: {summary.files_new} new, {summary.files_changed} changed, "
               f"{summary.files_unchanged} unmodified files; {summary.dirs} directories")
    out.always(f"Would read {human_bytes(summary.bytes_read)} of {human_bytes(summary.bytes_total)} and add "
               f"{human_bytes(summary.bytes_added)} before compression (dry run: nothing was written)")


def _interval(text: str | None) -> float:
    """``--checkpoint-interval`` in seconds (default 5 minutes); a malformed or non-positive duration is a
    usage error.  The duration parser loads only when one is given: a path backup must not load the
    configuration models at start-up."""
    if text is None:
        return 300.0
    from sitesnap.config.units import parse_duration

    try:
        seconds = parse_duration(text).total_seconds()
    except ValueError as exc:
        raise UsageError(f"--checkpoint-interval: {exc}", hint="e.g. 5m, 30s, 1h") from None
    if seconds <= 0:
        raise UsageError("--checkpoint-interval must be positive", hint="e.g. 5m, 30s, 1h")
    return seconds


@contextmanager
def _stopping_message() -> Iterator[None]:
    """Say "stopping…" the moment Ctrl-C arrives, then let the interrupt unwind the backup."""

    def on_interrupt(signum: int, frame: FrameType | None) -> None:
        click.echo("stopping… (indexing what was uploaded)", err=True)
        signal.default_int_handler(signum, frame)

    try:
        previous = signal.signal(signal.SIGINT, on_interrupt)
    except ValueError:  # not the main thread (a test's runner): nothing to install
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def site_backup(app: AppContext, tags: list[str], snapshot_type: str, sources: list[str], *, copy: bool,
                in_process: bool = False, checkpoint_interval: float | None = None) -> None:
    """Back up the site through the recorded-job runner, so the catalog, status and alerts see it.

    When the site's scheduler runs on this machine, the backup runs there
    (see :mod:`sitesnap.runtime.handoff`) unless ``in_process``, ``-r``,
    ``--write-only-key`` or a bandwidth limit is given; otherwise it runs in
    this process.
    """
    params: dict[str, Any] = {"type": snapshot_type, "tags": tags, "sources": sources, "copy": copy}
    config_file = app.config_file()
    # The scheduler runs with its own options: bandwidth limits given here keep the backup in this process.
    may_hand_off = not (in_process or app.repo_url or app.write_only_key or app.limits)
    if config_file and may_hand_off and _hand_off(app, config_file, params):
        return  # the scheduler checkpoints at its own (default) interval
    if checkpoint_interval is not None:
        params["checkpoint_interval"] = checkpoint_interval
    if app.write_only_key:
        raise UsageError("--write-only-key backs up PATHS only; a site backup records its run and reads the "
                         "parent snapshot, which needs the password",
                         hint="Give the paths to back up, or drop --write-only-key.")
    cfg = app.site(required=True)
    repo_cfg = app.site_repository(cfg)
    params["repository"] = repo_cfg.name
    password = app.job_password(repo_cfg)
    app.warm_up_key(password)  # the key derivation overlaps the imports below
    from sitesnap.runtime.jobs import run_job

    out = app.output
    with _stopping_message(), open_site_catalog(cfg) as catalog, out.progress("backup") as sink:
        run = run_job("backup", cfg, params, catalog=catalog, triggered_by="cli", sink=sink, password=password)
    _show_backup(app, run.to_dict(), snapshot_type, cfg.site.name, ran_in="cli")
    run.raise_for_error()
    _raise_for_copies(run.result)
    _raise_for_unread(app, run.result)


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
    _raise_for_unread(app, result.get("result") or {})
    return True


def _raise_for_unread(app: AppContext, result: dict[str, Any]) -> None:
    """Exit 3 when the snapshot was saved without something it should hold (a missing folder, unreadable files)."""
    unread = [w for w in result.get("warnings", []) if str(w.get("message", "")).startswith("cannot ")]
    if unread:
        app.output.warn(f"{len(unread)} item(s) could not be read; the snapshot was saved without them")
        raise click.exceptions.Exit(INCOMPLETE_EXIT)


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
            label = snapshot_type if result.get("parent") else f"{snapshot_type}, the first: everything read"
            out.always(f"snapshot {result['short_id']} ({label}) of site {site} "
                       f"saved in {result.get('duration', 0):.2f}s (run {run_id[:8]})")
        for c in copies:
            status = c.get("status")
            detail = f": {c.get('error')}" if c.get("error") else f", {human_bytes(int(c.get('bytes_sent', 0)))} sent"
            out.always(f"copy to {c.get('repository')}: {status}{detail}")
    for c in copies:
        if c.get("status") != "ok" and out.json_mode:
            out.warn(f"copy to {c.get('repository')} failed: {c.get('error')}")


COMMANDS = [backup]
