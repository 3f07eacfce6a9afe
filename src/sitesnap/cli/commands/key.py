"""``key list|add|remove|passwd|recovery|export|import``: key slots; the data is never re-encrypted.

``key rotate`` and ``key reencrypt`` (a new master key) live in ``key_rotate``.
"""

from __future__ import annotations

import contextlib
import os
import sys

import click

from sitesnap.cli.commands.key_rotate import key_reencrypt, key_rotate
from sitesnap.cli.context import AppContext, given_new_password, pass_app
from sitesnap.errors import UsageError


@click.group()
def key() -> None:
    """Manage the repository's passwords (key slots) and its master key."""


def _new_password(app: AppContext, new_password_file: str | None) -> str:
    given = given_new_password(new_password_file)
    if given is not None:
        return given
    return str(click.prompt("New password", hide_input=True, confirmation_prompt=True, err=True))


@key.command(name="list")
@pass_app
def key_list(app: AppContext) -> None:
    """List key slots."""
    from sitesnap.repository.keys import list_keys

    with app.open_repo() as repo:
        repo.require_read("managing keys")
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
        repo.require_read("managing keys")
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


_RECOVERY_SHEET = """\
Recovery code for the sitesnap repository
  {url}

  {code}

This code opens the repository like a password (key slot {short}).  It is
shown only now: print this page or write the code down, and keep it apart
from the server (a safe, a sealed envelope with a second person).
To restore on a new machine:
  SITESNAP_REPOSITORY={url} SITESNAP_PASSWORD='{code}' sitesnap restore latest --target DIR
Case, spaces and dashes do not matter when typing it back; a typo is
reported as such.  Revoke it with 'sitesnap key remove {short}'.
See docs/keys.md."""


@key.command(name="recovery")
@pass_app
def key_recovery(app: AppContext) -> None:
    """Add a key slot for a new printable recovery code and show the code once."""
    from sitesnap.repository.keys import add_recovery_key

    with app.open_repo() as repo:
        key_id, code = add_recovery_key(repo.storage, repo.master)
        url = repo.storage.properties.url
    if app.output.json_mode:
        app.output.json({"message_type": "key_recovery", "id": key_id, "recovery_code": code, "repository": url})
    else:
        app.output.always(_RECOVERY_SHEET.format(url=url, code=code, short=key_id[:8]))


@key.command(name="export")
@click.argument("key_id", required=False)
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False),
              help="Write the key file here ('-' for standard output).")
@pass_app
def key_export(app: AppContext, key_id: str | None, out_path: str) -> None:
    """Copy key slot KEY_ID (default: the one in use) out of the repository.

    The file is still protected by its password; with it and that password,
    'key import' brings access back after the repository's key files are lost.
    """
    from sitesnap.repository.keys import export_key

    with app.open_repo() as repo:
        repo.require_read("managing keys")
        full_id, raw = export_key(repo.storage, key_id or repo.key_id)
    if out_path == "-":
        sys.stdout.buffer.write(raw)
        return
    try:
        fd = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise UsageError(f"cannot create {out_path}: {exc.strerror}") from None
    with os.fdopen(fd, "wb") as fh:
        fh.write(raw)
    _done(app, "exported", full_id)


@key.command(name="import")
@click.argument("key_file", type=click.Path(exists=True, dir_okay=False))
@pass_app
def key_import(app: AppContext, key_file: str) -> None:
    """Put an exported key file back into the repository.

    Needs only the repository URL and the key file's own password (or
    recovery code): it works when every key file in the repository is gone.
    """
    from sitesnap.engine.opening import opened_storage, url_target
    from sitesnap.repository.repository import Repository

    with open(key_file, "rb") as fh:
        raw = fh.read()
    with opened_storage(url_target(app.repository_url(), app.storage_options())) as storage:
        key_id = Repository.import_key_file(storage, raw, app.password())
    _done(app, "imported", key_id)


@key.group(name="write-only")
def write_only() -> None:
    """Keys for backup hosts that may add snapshots but never read them."""


@write_only.command(name="export")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False),
              help="Write the write-only key file here (created with mode 0600).")
@click.option("--label", default="", help="A note kept with the repository's write-only marker.")
@pass_app
def write_only_export(app: AppContext, out_path: str, label: str) -> None:
    """Write a key that lets a host add snapshots it cannot read, list or restore.

    The host runs 'sitesnap --write-only-key FILE backup PATH...'.  Snapshots
    it makes are read, checked and restored with the password as usual.
    Anyone with the file can add data and learn which blobs exist (IDs and
    sizes), but cannot read any of it.  See docs/keys.md.
    """
    try:
        fd = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise UsageError(f"cannot create {out_path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as fh, app.open_repo() as repo:
            wo_key = repo.enable_write_only(label)
            url = repo.storage.properties.url
            fh.write(wo_key.to_bytes())
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(out_path)
        raise
    if app.output.json_mode:
        app.output.json({"message_type": "key_write_only_exported", "path": out_path, "repository": url})
    else:
        app.output.always(f"write-only key written to {out_path}\n"
                          f"On the backup host: sitesnap -r {url} --write-only-key {out_path} backup PATH...")


def _done(app: AppContext, what: str, key_id: str) -> None:
    if app.output.json_mode:
        app.output.json({"message_type": f"key_{what}", "id": key_id})
    else:
        app.output.always(f"key {key_id[:8]} {what}")


key.add_command(key_rotate)
key.add_command(key_reencrypt)

COMMANDS = [key]
