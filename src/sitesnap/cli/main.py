"""Entry point: the ``sitesnap`` group, global options and the one place errors become exit codes."""

from __future__ import annotations

import sys
from typing import Any

import click

from sitesnap import __version__
from sitesnap.cli.commands import register
from sitesnap.cli.context import AppContext
from sitesnap.cli.output import Output
from sitesnap.errors import Interrupted, SitesnapError, UsageError
from sitesnap.process import tune_allocator

__all__ = ["cli", "main"]

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT_SETTINGS)
@click.option("-r", "--repo", "repo_url", envvar="SITESNAP_REPOSITORY", metavar="URL",
              help="Repository: /path, file://, s3://bucket/prefix, sftp://user@host/path.  [env: SITESNAP_REPOSITORY]")
@click.option("-c", "--config", "config_path", envvar="SITESNAP_CONFIG", metavar="FILE",
              type=click.Path(dir_okay=False), help="Site configuration (sitesnap.toml).  [env: SITESNAP_CONFIG]")
@click.option("--password-file", metavar="FILE",
              help="Read the repository password from FILE.  [env: SITESNAP_PASSWORD_FILE]")
@click.option("--write-only-key", metavar="FILE", envvar="SITESNAP_WRITE_ONLY_KEY",
              help="Open with this write-only key instead of a password: backups only, no reading "
                   "(docs/keys.md).  [env: SITESNAP_WRITE_ONLY_KEY]")
@click.option("--json", "json_mode", is_flag=True,
              help="Machine-readable JSON output (JSON lines for long operations).")
@click.option("-q", "--quiet", is_flag=True, help="Print only errors and final results.")
@click.option("--limit-upload", metavar="RATE", help="Cap upload bandwidth to the repository, e.g. 10MiB/s.")
@click.option("--limit-download", metavar="RATE", help="Cap download bandwidth from the repository, e.g. 20MiB/s.")
@click.version_option(__version__, "-V", "--version", prog_name="sitesnap")
@click.pass_context
def cli(ctx: click.Context, repo_url: str | None, config_path: str | None, password_file: str | None,
        write_only_key: str | None, json_mode: bool, quiet: bool, limit_upload: str | None,
        limit_download: str | None) -> None:
    """sitesnap: site snapshots and database backups.

    Deduplicated, compressed, encrypted snapshots of a web site's databases and
    files, restorable to any point and any place.

    \b
    Password: the site config's password of the repository in use; for one
    without: --password-file, SITESNAP_PASSWORD_FILE, SITESNAP_PASSWORD, or a prompt.
    Exit codes: see 'sitesnap help exit-codes' or docs/cli.md.
    """
    app = ctx.ensure_object(AppContext)
    app.repo_url = repo_url
    app.password_file = password_file
    app.config_path = config_path
    app.write_only_key = write_only_key
    app.output.json_mode = json_mode
    app.output.quiet = quiet
    for key, value in (("limit_upload", limit_upload), ("limit_download", limit_download)):
        if value:
            from sitesnap.config.units import parse_rate

            try:
                app.limits[key] = parse_rate(value)
            except ValueError as exc:
                raise UsageError(f"--{key.replace('_', '-')}: {exc}") from None


register(cli)


def _report(exc: SitesnapError, output: Output | None) -> None:
    if output is not None and output.json_mode:
        output.json_line({"message_type": "error", **exc.to_dict()})
        return
    click.echo(f"sitesnap: error: {exc.message}", err=True)
    if exc.hint:
        click.echo(f"hint: {exc.hint}", err=True)


def main(argv: list[str] | None = None) -> Any:
    """Run the CLI; SitesnapError becomes a one-line message and its exit code."""
    tune_allocator()
    app = AppContext()
    ctx_output = [app.output]
    try:
        with cli.make_context("sitesnap", list(sys.argv[1:] if argv is None else argv), obj=app) as ctx:
            cli.invoke(ctx)
    except SitesnapError as exc:
        _report(exc, ctx_output[0] if ctx_output else None)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _report(Interrupted(), ctx_output[0] if ctx_output else None)
        sys.exit(Interrupted.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except BrokenPipeError:
        sys.exit(0)
    sys.exit(0)


if __name__ == "__main__":
    main()
