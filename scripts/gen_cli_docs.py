"""Generate docs/cli.md from the CLI's own --help texts and the error tree.

Run after changing a command: ``.venv/bin/python scripts/gen_cli_docs.py``.
``tests/test_docs.py`` fails when docs/cli.md is out of date.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from sitesnap.cli.commands.reference import exit_codes
from sitesnap.cli.main import cli

OUT = Path(__file__).resolve().parent.parent / "docs" / "cli.md"

HEADER = """\
# sitesnap command line

Generated from `sitesnap --help` by `scripts/gen_cli_docs.py`; do not edit by hand.

Conventions (as in restic): the repository comes from `-r/--repo` or
`SITESNAP_REPOSITORY`, or from the site configuration (`-c sitesnap.toml`,
`SITESNAP_CONFIG`, or `./sitesnap.toml`), whose first repository is the
primary; with a site configuration, `-r NAME` (or a configured repository's
URL) makes every command use that repository alone. The password of a
repository is its own `password = { env | file }` in the site configuration;
for a repository without one it comes from `--password-file`,
`SITESNAP_PASSWORD_FILE`, `SITESNAP_PASSWORD`, or a prompt on a terminal.
`--json` works before or after any command.

"""


def _help(cmd: click.Command, path: list[str]) -> str:
    # The root group's help option names (-h, --help) hold for every subcommand, as they do at run time.
    names = cli.context_settings.get("help_option_names", ["--help"])
    with click.Context(cmd, info_name=" ".join(path), terminal_width=100, max_content_width=100,
                       help_option_names=names) as ctx:
        return cmd.get_help(ctx)


def _walk(cmd: click.Command, path: list[str]) -> list[tuple[list[str], click.Command]]:
    out = [(path, cmd)]
    if isinstance(cmd, click.Group):
        for name in sorted(cmd.commands):
            out.extend(_walk(cmd.commands[name], [*path, name]))
    return out


def render() -> str:
    parts = [HEADER, "## Exit codes\n\n`sitesnap help exit-codes` prints this table (`--json` too).\n\n"
             "| code | error | meaning |\n|---|---|---|\n"]
    for row in exit_codes():
        error = f"`{row.error}`" if row.error else ""
        parts.append(f"| {row.code} | {error} | {row.meaning.replace('|', '/')} |\n")
    parts.append("\n## Commands\n")
    for path, cmd in _walk(cli, ["sitesnap"]):
        parts.append(f"\n### `{' '.join(path)}`\n\n```text\n{_help(cmd, path).rstrip()}\n```\n")
    return "".join(parts)


if __name__ == "__main__":
    text = render()
    if "--check" in sys.argv:
        sys.exit(0 if OUT.read_text(encoding="utf-8") == text else 1)
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT}")
