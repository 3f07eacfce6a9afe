"""``init``: create a repository, at ``-r`` or a configured one by name (``--repository NAME``)."""

from __future__ import annotations

from typing import Any

import click

from sitesnap.cli.context import AppContext, pass_app
from sitesnap.cli.targets import passwords_for, target_for


@click.command()
@click.option("--kdf", type=click.Choice(["argon2id", "scrypt"]), default="argon2id", show_default=True,
              help="Password hashing for the key file.")
@click.option("--repository", "name", metavar="NAME",
              help="Create this repository of the site configuration (as -r NAME does).")
@click.option("--copy-chunker-params-from", "params_from", metavar="NAME|URL",
              help="Share this repository's chunker parameters and blob IDs, so 'copy' moves only missing data.")
@click.option("--from-password-file", metavar="FILE",
              help="Password of that repository.  [env: SITESNAP_FROM_PASSWORD]")
@pass_app
def init(app: AppContext, kdf: str, name: str | None, params_from: str | None, from_password_file: str | None) -> None:
    """Create a new, empty repository.

    Its password is the configured one of that repository when it has one;
    otherwise it is read as for every command (and asked twice on a terminal).
    """
    from sitesnap.engine.opening import create_target
    from sitesnap.format.crypto import DEFAULT_KDF

    if name:
        app.site_repository(app.site(required=True), name)  # an unknown name fails with the known ones
        app.repo_url = name
    target = app.target()
    params = DEFAULT_KDF if kdf == "argon2id" else {"name": "scrypt", "n": 2**15, "r": 8, "p": 1}
    if params_from:
        repo = init_like(app, params_from, from_password_file, params)
    else:
        sources = app.password_sources(confirm=True, prompt="New repository password")
        repo = create_target(target, sources, kdf=params)
    try:
        if app.output.json_mode:
            app.output.json({"message_type": "initialized", "id": repo.config.id, "repository": target.url})
        else:
            app.output.always(f"created sitesnap repository {repo.config.id[:10]} at {target.url}")
            app.output.print("[dim]Keep the password safe: without it the data cannot be restored.[/]")
    finally:
        repo.close()


def init_like(app: AppContext, spec: str, password_file: str | None, kdf: dict[str, Any]) -> Any:
    """``init --copy-chunker-params-from SPEC``: a new repository sharing SPEC's blob IDs."""
    from sitesnap.engine.copy import init_with_params_of
    from sitesnap.engine.opening import open_target

    src = open_target(target_for(app, spec), passwords_for(app, password_file, "SITESNAP_FROM_PASSWORD"))
    try:
        target = app.target()
        password = app.password(confirm=True, prompt="New repository password")
        return init_with_params_of(src, target.url, password, dict(target.options), kdf=kdf)
    finally:
        src.close()


COMMANDS = [init]
