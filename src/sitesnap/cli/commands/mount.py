"""``mount``: the repository as a read-only file system, for restoring single files."""

from __future__ import annotations

import click

from sitesnap.cli.context import AppContext, pass_app


@click.command()
@click.argument("mountpoint", type=click.Path(file_okay=False))
@click.option("--cache-size", default=64, show_default=True, type=click.IntRange(min=1), metavar="MIB",
              help="Memory for decoded chunks, in MiB.")
@pass_app
def mount(app: AppContext, mountpoint: str, cache_size: int) -> None:
    """Mount the repository read-only at MOUNTPOINT (FUSE) until Ctrl-C or SIGTERM.

    Snapshots appear as snapshots/<time>/, ids/<short id>, tags/<tag>/<time>
    and latest/; database sources as their dump or SQLite file.  Copy out what
    you need with any tool, then press Ctrl-C to unmount.
    """
    from sitesnap.engine.mount import check_mountpoint, mount_repository

    out = app.output
    check_mountpoint(mountpoint)  # before asking for a password
    with app.open_repo() as repo:
        mount_repository(
            repo, mountpoint, cache_bytes=cache_size << 20, warn=out.warn,
            on_ready=lambda: out.print(f"Mounted at {mountpoint}; press Ctrl-C to unmount."),
        )
    out.print(f"Unmounted {mountpoint}.")


COMMANDS = [mount]
