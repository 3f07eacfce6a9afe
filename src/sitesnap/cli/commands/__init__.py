"""One module per command group; ``register`` adds them all to the root group."""

from __future__ import annotations

from typing import Any

import click

from sitesnap.cli.commands import (
    backup,
    browse,
    capture,
    keys,
    maintain,
    maintenance,
    monitor,
    reference,
    restore,
    runtime,
    site,
    timeline,
    web,
)
from sitesnap.cli.commands import mount as mount_

__all__ = ["register"]


def _set_json(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        from sitesnap.cli.context import AppContext

        ctx.ensure_object(AppContext).output.json_mode = True


def _add_json_option(command: click.Command) -> None:
    """``--json`` is accepted after every command too (``sitesnap snapshots --json``)."""
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _add_json_option(sub)
        return
    if not any(p.name == "json_flag" for p in command.params):
        opt: Any = click.Option(["--json", "json_flag"], is_flag=True, expose_value=False, is_eager=True,
                                callback=_set_json, help="Machine-readable JSON output.")
        command.params.append(opt)


def register(group: click.Group) -> None:
    modules = (backup, browse, capture, keys, maintain, maintenance, monitor, mount_, reference, restore, runtime,
               site, timeline, web)
    for module in modules:
        for command in module.COMMANDS:
            _add_json_option(command)
            group.add_command(command)
