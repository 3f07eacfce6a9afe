"""``init`` and ``backup``."""

from __future__ import annotations

import click

from sitesnap.cli.context import AppContext, pass_app
from sitesnap.cli.output import human_bytes

INCOMPLETE_EXIT = 3
"""Exit code of a backup that saved a snapshot but could not read some files (restic's convention)."""


@click.command()
@click.option("--kdf", type=click.Choice(["argon2id", "scrypt"]), default="argon2id", show_default=True,
              help="Password hashing for the key file.")
@click.option("--copy-chunker-params-from", "params_from", metavar="NAME|URL",
              help="Share this repository's chunker parameters and blob IDs, so 'copy' moves only missing data.")
@click.option("--from-password-file", metavar="FILE",
              help="Password of that repository.  [env: SITESNAP_FROM_PASSWORD]")
@pass_app
def init(app: AppContext, kdf: str, params_from: str | None, from_password_file: str | None) -> None:
    """Create a new, empty repository."""
    from sitesnap.engine.opening import create_repository
    from sitesnap.format.crypto import DEFAULT_KDF

    url = app.repository_url()
    params = DEFAULT_KDF if kdf == "argon2id" else {"name": "scrypt", "n": 2**15, "r": 8, "p": 1}
    if params_from:
        from sitesnap.cli.commands.maintain import init_like

        repo = init_like(app, params_from, from_password_file, url, params)
    else:
        repo = create_repository(url, app.password(confirm=True, prompt="New repository password"),
                                 app.storage_options(), kdf=params)
    try:
        if app.output.json_mode:
            app.output.json({"message_type": "initialized", "id": repo.config.id, "repository": url})
        else:
            app.output.always(f"created sitesnap repository {repo.config.id[:10]} at {url}")
            app.output.print("[dim]Keep the password safe: without it the data cannot be restored.[/]")
    finally:
        repo.close()


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
@pass_app
def backup(app: AppContext, paths: tuple[str, ...], tags: tuple[str, ...], excludes: tuple[str, ...],
           snapshot_type: str | None, sources: tuple[str, ...], no_copy: bool, in_process: bool) -> None:
    """Back up PATHS, or the whole site of the config when no PATHS are given.

    Unchanged files (same size, mtime, ctime and inode as in the parent
    snapshot) are not read again; only new chunks are stored.  Exits 3 (as
    restic does) when the snapshot was saved but some files could not be read.

    A whole-site backup runs in the site's scheduler when one is running on
    this machine (it has started up already), with the same output and exit
    code; Ctrl-C then leaves it running there.
    """
    out = app.output
    if not paths:
        from sitesnap.cli.commands.site import site_backup

        site_backup(app, list(tags), snapshot_type or "incremental", list(sources), copy=not no_copy,
                    in_process=in_process)
        return
    app.warm_up_key()  # the key derivation overlaps the engine's imports and the prescan
    from sitesnap.engine.backup import backup_paths
    from sitesnap.sources.prescan import Prescan

    # Listing the tree needs no key: it starts now, while the repository opens.
    with Prescan(paths, excludes) as prescan, app.open_repo() as repo, out.progress("backup") as sink:
        result = backup_paths(repo, list(paths), tags=list(tags), excludes=list(excludes),
                              snapshot_type=snapshot_type or "manual", read_all=snapshot_type == "full", sink=sink,
                              prescan=prescan)
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


COMMANDS = [init, backup]
