"""``/api/v1/users``: the console's user management, for admins only.

The same catalog functions as ``sitesnap user`` and ``sitesnap token``
(:class:`~sitesnap.catalog.Accounts`) do the work, with the same rules: a
changed role or password ends the user's sessions, and the only admin can be
neither demoted nor removed.  Every change is audited; no answer ever holds
a password, its hash, a session nonce or a token.
"""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint

from sitesnap.errors import RecordNotFound
from sitesnap.web.audit import audit
from sitesnap.web.auth import requires
from sitesnap.web.schemas import OkOut
from sitesnap.web.state import web_state
from sitesnap.web.userschemas import TokenOut, UserIn, UserOut, UserPatchIn

__all__ = ["bp"]

bp = APIBlueprint("users", __name__, url_prefix="/api/v1/users", tag="Users")


@bp.get("")
@bp.output(list[UserOut])  # type: ignore[arg-type]  # apiflask accepts lists of models at run time
@bp.doc(summary="List users and their roles")
@requires("admin")
def list_users() -> list[dict[str, Any]]:
    return [user.to_dict() for user in web_state().accounts.list_users()]


@bp.post("")
@bp.input(UserIn, arg_name="body")
@bp.output(UserOut, status_code=201)
@bp.doc(summary="Add a user with a role and a password", responses=[400])
@requires("admin")
def add_user(body: UserIn) -> dict[str, Any]:
    """400 when the name is taken."""
    info = web_state().accounts.add_user(body.name, body.role, body.password)
    audit("user.add", info.name, role=info.role)
    return info.to_dict()


@bp.patch("/<name>")
@bp.input(UserPatchIn, arg_name="body")
@bp.output(UserOut)
@bp.doc(summary="Change a user's role and/or reset the password (the user's sessions end)",
        responses=[400, 404])
@requires("admin")
def change_user(name: str, body: UserPatchIn) -> dict[str, Any]:
    """Both changes are checked before either is made, so a refused call changes nothing."""
    accounts = web_state().accounts
    user = accounts.get_user(name)
    if user is None:
        raise RecordNotFound(f"user {name}")
    if body.role is not None and body.role != "admin" and user.role == "admin":
        accounts.keep_an_admin(name)
    if body.password is not None:
        accounts.set_password(name, body.password)
        audit("user.passwd", name)
    if body.role is not None and body.role != user.role:
        accounts.set_role(name, body.role)
        audit("user.role", name, role=body.role)
    found = accounts.get_user(name)
    return (found or user).to_dict()


@bp.delete("/<name>")
@bp.output(OkOut)
@bp.doc(summary="Remove a user (its sessions end with it)", responses=[400, 404])
@requires("admin")
def remove_user(name: str) -> dict[str, Any]:
    accounts = web_state().accounts
    accounts.keep_an_admin(name)
    accounts.delete_user(name)
    audit("user.remove", name)
    return {"ok": True}


@bp.get("/tokens")
@bp.output(list[TokenOut])  # type: ignore[arg-type]  # as above
@bp.doc(summary="List API tokens (never the tokens themselves: only a prefix is kept)")
@requires("admin")
def list_tokens() -> list[dict[str, Any]]:
    return [token.to_dict() for token in web_state().accounts.list_tokens()]


@bp.post("/tokens/<int:token_id>/revoke")
@bp.output(TokenOut)
@bp.doc(summary="Revoke an API token at once", responses=[404])
@requires("admin")
def revoke_token(token_id: int) -> dict[str, Any]:
    info = web_state().accounts.revoke_token(token_id)
    audit("token.revoke", f"token:{info.id}")
    return info.to_dict()
