"""``help exit-codes``: what each exit code of ``sitesnap`` means, read from the error tree.

The table is built here once and used twice: by the command, and by
``scripts/gen_cli_docs.py`` for docs/cli.md, so the two cannot disagree.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import click

from sitesnap.cli.commands.backup import INCOMPLETE_EXIT
from sitesnap.cli.context import AppContext, pass_app
from sitesnap.errors import all_errors

__all__ = ["COMMANDS", "ExitCode", "exit_codes"]


@dataclass(frozen=True)
class ExitCode:
    """One row: the code, the error class that exits with it (empty for non-errors), its message template."""

    code: int
    error: str
    meaning: str


def exit_codes() -> list[ExitCode]:
    """Success, the incomplete backup, then every error of the tree by code and name."""
    rows = [ExitCode(0, "", "success"),
            ExitCode(INCOMPLETE_EXIT, "", "backup saved, but some source files could not be read (see the warnings)")]
    for err in sorted(all_errors(), key=lambda e: (e.exit_code, e.__name__)):
        rows.append(ExitCode(err.exit_code, err.__name__, (err.__doc__ or "").strip().splitlines()[0]))
    return rows


@click.group(name="help")
def help_group() -> None:
    """Reference topics: 'sitesnap help exit-codes'.  For a command's options: sitesnap COMMAND -h."""


@help_group.command(name="exit-codes")
@pass_app
def exit_codes_command(app: AppContext) -> None:
    """The exit codes of every command and the errors behind them (same table as docs/cli.md)."""
    rows = exit_codes()
    if app.output.json_mode:
        app.output.json([asdict(row) for row in rows])
        return
    for row in rows:
        app.output.always(f"{row.code:>4}  {row.error or '-':<20} {row.meaning}")


COMMANDS = [help_group]
