"""The command modules, one per command (or per group of subcommands), each named after it.

Each module has ``COMMANDS``, the click commands it adds to the root group.
Adding a command is adding its module and one line to :data:`MODULES`.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

__all__ = ["MODULES", "register"]

MODULES = (
    "init",
    "backup",
    "snapshots",
    "ls",
    "diff",
    "mount",
    "stats",
    "restore",
    "forget",
    "prune",
    "copy",
    "check",
    "repair",
    "unlock",
    "key",
    "init_site",
    "drill",
    "status",
    "alert",
    "scheduler",
    "worker",
    "trigger",
    "catalog",
    "runs",
    "capture",
    "timeline",
    "wal_push",
    "wal_fetch",
    "reference",
    "web",
)
"""Modules of :mod:`sitesnap.cli.commands` whose ``COMMANDS`` :func:`register` adds."""


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
    for name in MODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        for command in module.COMMANDS:
            _add_json_option(command)
            group.add_command(command)
