"""``key list|add|remove|passwd``: password slots; the data is never re-encrypted."""

from __future__ import annotations

import os

import click

from sitesnap.cli.context import AppContext, pass_app


@click.group()
def key() -> None:
    """Manage the repository's passwords (key slots)."""


def _new_password(app: AppContext, new_password_file: str | None) -> str:
    if new_password_file:
        with open(new_password_file, encoding="utf-8") as fh:
            return fh.read().rstrip("\r\n")
    env = os.environ.get("SITESNAP_NEW_PASSWORD")
    if env:
        return env
    return str(click.prompt("New password", hide_input=True, confirmation_prompt=True, err=True))


@key.command(name="list")
@pass_app
def key_list(app: AppContext) -> None:
    """List key slots."""
    from sitesnap.repository.keys import list_keys

    with app.open_repo() as repo:
        infos = list_keys(repo.storage)
        current = repo.key_id
    if app.output.json_mode:
        app.output.json([{**info.__dict__, "current": info.id == current} for info in infos])
        return
    for info in infos:
        mark = "*" if info.id == current else " "
        app.output.always(f"{mark} {info.id[:8]}  {info.created[:19]}  {info.username}@{info.hostname}  "
                          f"{info.kdf}  {info.label}")


@key.command(name="add")
@click.option("--new-password-file", help="Read the new password from a file.  [env: SITESNAP_NEW_PASSWORD]")
@click.option("--label", default="", help="A note shown by 'key list'.")
@pass_app
def key_add(app: AppContext, new_password_file: str | None, label: str) -> None:
    """Add a password that opens the repository."""
    from sitesnap.repository.keys import add_key

    with app.open_repo() as repo:
        key_id = add_key(repo.storage, repo.master, _new_password(app, new_password_file), label=label)
    _done(app, "added", key_id)


@key.command(name="remove")
@click.argument("key_id")
@pass_app
def key_remove(app: AppContext, key_id: str) -> None:
    """Remove the key slot KEY_ID (not the one in use)."""
    from sitesnap.repository.keys import remove_key

    with app.open_repo() as repo:
        remove_key(repo.storage, key_id, repo.key_id)
    _done(app, "removed", key_id)


@key.command(name="passwd")
@click.option("--new-password-file", help="Read the new password from a file.  [env: SITESNAP_NEW_PASSWORD]")
@pass_app
def key_passwd(app: AppContext, new_password_file: str | None) -> None:
    """Change the password of the key slot in use (a new slot replaces it)."""
    from sitesnap.repository.keys import add_key

    with app.open_repo() as repo:
        new_id = add_key(repo.storage, repo.master, _new_password(app, new_password_file), label="passwd")
        repo.storage.delete("keys/" + repo.key_id)
    _done(app, "changed", new_id)


def _done(app: AppContext, what: str, key_id: str) -> None:
    if app.output.json_mode:
        app.output.json({"message_type": f"key_{what}", "id": key_id})
    else:
        app.output.always(f"key {key_id[:8]} {what}")


COMMANDS = [key]
