"""``init-site``: write a sitesnap.toml for a Flask app."""

from __future__ import annotations

import click

from sitesnap.cli.context import AppContext, pass_app
from sitesnap.errors import UsageError


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
        app.output.print(text, markup=False, emoji=False, end="")  # exactly the file: [site] is TOML, not markup


COMMANDS = [init_site]
