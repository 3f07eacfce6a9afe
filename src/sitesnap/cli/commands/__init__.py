"""One module per command group; ``register`` adds them all to the root group."""

from __future__ import annotations

import click

from sitesnap.cli.commands import backup, browse, keys, maintenance, restore

__all__ = ["register"]


def register(group: click.Group) -> None:
    for module in (backup, browse, keys, maintenance, restore):
        for command in module.COMMANDS:
            group.add_command(command)
