"""``serve``, ``user`` and ``token``: the web server and its accounts.

``serve`` runs the app under waitress (one process, a pool of threads)
with the embedded scheduler in the same process when no broker is
configured; ``--debug`` swaps in werkzeug's development server.  The CLI
and the web layer are sibling edges (DESIGN.md §4), so ``serve`` names the
app factory and the server runner by their import paths.
"""

from __future__ import annotations

import getpass
import importlib
import sys
from typing import Any

import click

from sitesnap.cli.context import AppContext, pass_app, read_password_file
from sitesnap.errors import UsageError

APP_FACTORY = "sitesnap.web"
SERVER = "sitesnap.web.server"
ROLE_CHOICE = click.Choice(["admin", "operator", "viewer"])


def _catalog(app: AppContext, catalog_url: str | None) -> Any:
    from sitesnap.catalog import open_catalog

    if catalog_url:
        return open_catalog(catalog_url)
    cfg = app.site(required=True)
    return open_catalog(cfg.runtime.catalog_url)


def _cli_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


catalog_option = click.option("--catalog", "catalog_url", metavar="URL",
                              help="Catalog database URL (default: the site config's [runtime] catalog_url).")


@click.command()
@click.option("--host", default=None, help="Address to listen on (default: [web] host, 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Port (default: [web] port, 8470).")
@catalog_option
@click.option("--no-scheduler", is_flag=True, help="Do not run the embedded scheduler in this process.")
@click.option("--threads", type=click.IntRange(2, 256), default=8, show_default=True,
              help="Request threads (each open progress stream holds one).")
@click.option("--debug", is_flag=True, help="Use werkzeug's development server instead of waitress.")
@pass_app
def serve(app: AppContext, host: str | None, port: int | None, catalog_url: str | None, no_scheduler: bool,
          threads: int, debug: bool) -> None:
    """Serve the REST API, the console and /metrics with waitress.

    Listens on 127.0.0.1:8470 unless --host/--port or [web] say otherwise.
    Runs the site's schedule in the same process unless a broker is
    configured or --no-scheduler is given; without it, the site's alerts are
    still evaluated every minute here (docs/deployment.md).
    """
    cfg = app.site(required=True)
    server = importlib.import_module(SERVER)
    tls = (cfg.web.tls_cert, cfg.web.tls_key) if cfg.web.tls_cert and cfg.web.tls_key else None
    listen = server.Listen(host or cfg.web.host, port or cfg.web.port, threads=threads, debug=debug, tls=tls)
    web_app = importlib.import_module(APP_FACTORY).create_app(cfg, catalog_url=catalog_url)
    catalog = web_app.extensions["sitesnap"].catalog
    if (warning := server.console_warning()) is not None:
        app.output.warn(warning)
    scheduler: Any = None
    timer: Any = None
    if not cfg.runtime.broker and not no_scheduler:
        from sitesnap.runtime.scheduler import SiteScheduler

        scheduler = SiteScheduler(cfg, catalog)
        scheduler.start()
    else:  # the scheduler's timer evaluates alerts; without it, this process does
        from sitesnap.runtime.alerts.timer import AlertTimer

        timer = AlertTimer(cfg, lambda: catalog).start()

    def announce(url: str) -> None:
        app.output.always(f"serving site {cfg.site.name} on {url} with {'werkzeug (debug)' if debug else 'waitress'}"
                          f" ({'scheduler running' if scheduler else 'no scheduler'}); press Ctrl+C to stop")

    try:
        server.run_server(web_app, listen, announce)
    finally:
        if scheduler is not None:
            scheduler.shutdown(wait=False)
        if timer is not None:
            timer.stop(wait=False)


@click.group()
def user() -> None:
    """Users of the console and API (admin, operator, viewer)."""


def _read_password(password_file: str | None) -> str:
    if password_file:
        return read_password_file(password_file)
    if not sys.stdin.isatty():
        raise UsageError("no password given", hint="Use --password-file FILE, or run in a terminal to be asked.")
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True, err=True))


@user.command(name="add")
@click.argument("name")
@click.option("--role", type=ROLE_CHOICE, required=True, help="What the user may do.")
@click.option("--password-file", "user_password_file", metavar="FILE",
              help="Read the user's password from FILE (else prompt).")
@catalog_option
@pass_app
def user_add(app: AppContext, name: str, role: str, user_password_file: str | None, catalog_url: str | None) -> None:
    """Create user NAME with a role (the first admin is made this way)."""
    from sitesnap.catalog import Accounts

    password = _read_password(user_password_file)
    catalog = _catalog(app, catalog_url)
    try:
        info = Accounts(catalog.engine).add_user(name, role, password)
        catalog.add_audit(_cli_actor(), "user.add", info.name, details={"role": role})
    finally:
        catalog.close()
    if app.output.json_mode:
        app.output.json(info.to_dict())
    else:
        app.output.always(f"user {info.name} created ({info.role})")


@user.command(name="list")
@catalog_option
@pass_app
def user_list(app: AppContext, catalog_url: str | None) -> None:
    """List users and their roles."""
    from sitesnap.catalog import Accounts

    catalog = _catalog(app, catalog_url)
    try:
        users = Accounts(catalog.engine).list_users()
    finally:
        catalog.close()
    if app.output.json_mode:
        app.output.json([u.to_dict() for u in users])
        return
    for u in users:
        app.output.always(f"{u.name:<24} {u.role:<9} {'active' if u.active else 'disabled'}")


@user.command(name="passwd")
@click.argument("name")
@click.option("--password-file", "user_password_file", metavar="FILE",
              help="Read the new password from FILE (else prompt).")
@catalog_option
@pass_app
def user_passwd(app: AppContext, name: str, user_password_file: str | None, catalog_url: str | None) -> None:
    """Set a new password for user NAME; every session of the user ends."""
    from sitesnap.catalog import Accounts

    password = _read_password(user_password_file)
    catalog = _catalog(app, catalog_url)
    try:
        Accounts(catalog.engine).set_password(name, password)
        catalog.add_audit(_cli_actor(), "user.passwd", name)
    finally:
        catalog.close()
    app.output.always(f"password of {name} changed; its sessions ended")


@user.command(name="role")
@click.argument("name")
@click.option("--role", type=ROLE_CHOICE, required=True, help="The new role.")
@catalog_option
@pass_app
def user_role(app: AppContext, name: str, role: str, catalog_url: str | None) -> None:
    """Change the role of user NAME; its sessions end.  The last admin keeps the admin role."""
    from sitesnap.catalog import Accounts

    catalog = _catalog(app, catalog_url)
    try:
        accounts = Accounts(catalog.engine)
        if role != "admin":
            accounts.keep_an_admin(name)
        info = accounts.set_role(name, role)
        catalog.add_audit(_cli_actor(), "user.role", name, details={"role": role})
    finally:
        catalog.close()
    app.output.always(f"user {info.name} is now {info.role}")


@user.command(name="remove")
@click.argument("name")
@catalog_option
@pass_app
def user_remove(app: AppContext, name: str, catalog_url: str | None) -> None:
    """Delete user NAME (its sessions end with it).  The last admin cannot be removed."""
    from sitesnap.catalog import Accounts

    catalog = _catalog(app, catalog_url)
    try:
        accounts = Accounts(catalog.engine)
        accounts.keep_an_admin(name)
        accounts.delete_user(name)
        catalog.add_audit(_cli_actor(), "user.remove", name)
    finally:
        catalog.close()
    app.output.always(f"user {name} removed")


@click.group()
def token() -> None:
    """API tokens for automation (sent as 'Authorization: Bearer <token>')."""


@token.command(name="create")
@click.option("--role", type=ROLE_CHOICE, required=True, help="What the token may do.")
@click.option("--name", "token_name", default="", help="A label, e.g. the script that uses it.")
@catalog_option
@pass_app
def token_create(app: AppContext, role: str, token_name: str, catalog_url: str | None) -> None:
    """Create a token and print it once (only its hash is stored)."""
    from sitesnap.catalog import Accounts

    catalog = _catalog(app, catalog_url)
    try:
        info, secret = Accounts(catalog.engine).create_token(role, name=token_name, created_by=_cli_actor())
        catalog.add_audit(_cli_actor(), "token.create", f"token:{info.id}", details={"role": role,
                                                                                   "name": token_name})
    finally:
        catalog.close()
    if app.output.json_mode:
        app.output.json({**info.to_dict(), "token": secret})
        return
    app.output.always(secret)
    click.echo(f"token {info.id} ({info.role}) created; it is shown only now", err=True)


@token.command(name="revoke")
@click.argument("token_id", type=int)
@catalog_option
@pass_app
def token_revoke(app: AppContext, token_id: int, catalog_url: str | None) -> None:
    """Revoke token TOKEN_ID at once."""
    from sitesnap.catalog import Accounts

    catalog = _catalog(app, catalog_url)
    try:
        info = Accounts(catalog.engine).revoke_token(token_id)
        catalog.add_audit(_cli_actor(), "token.revoke", f"token:{info.id}")
    finally:
        catalog.close()
    if app.output.json_mode:
        app.output.json(info.to_dict())
    else:
        app.output.always(f"token {info.id} revoked")


COMMANDS = [serve, user, token]
