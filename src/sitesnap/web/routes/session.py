"""``/api/v1/auth``: log in and out of a console session, and say who is calling."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint

from sitesnap.errors import NotAuthenticated
from sitesnap.web.audit import audit
from sitesnap.web.auth import csrf_token, current_principal, end_session, public, requires, start_session
from sitesnap.web.schemas import LoginIn, MeOut, OkOut
from sitesnap.web.state import web_state

__all__ = ["bp"]

bp = APIBlueprint("session", __name__, url_prefix="/api/v1/auth", tag="Auth")


def _me(csrf: str | None) -> dict[str, Any]:
    principal = current_principal()
    if principal is None:
        raise NotAuthenticated("not logged in")
    return {"name": principal.name, "role": principal.role, "kind": principal.kind, "csrf_token": csrf}


@bp.post("/login")
@bp.input(LoginIn, arg_name="body")
@bp.output(MeOut)
@bp.doc(summary="Log in; sets the session cookie and returns the CSRF token",
        responses={401: "wrong name or password", 429: "too many attempts"})
@public
def login(body: LoginIn) -> dict[str, Any]:
    """Rate limited per client address (``SITESNAP_LOGIN_LIMIT``, default 10 per minute)."""
    user = web_state().accounts.verify_password(body.name, body.password)
    if user is None:
        # Only a known user's name is recorded: a password typed into the name field must not
        # end up in the audit log, which viewers can read.
        known = web_state().accounts.get_user(body.name) is not None
        actor = body.name[:200] if known else "(unknown user)"
        web_state().catalog.add_audit(actor, "auth.login_failed", source_ip=_ip())
        raise NotAuthenticated("wrong user name or password", hint="")
    token = start_session(user.id, user.session_nonce)
    web_state().catalog.add_audit(user.name, "auth.login", user.name, source_ip=_ip())
    return {"name": user.name, "role": user.role, "kind": "session", "csrf_token": token}


def _ip() -> str:
    from flask import request

    return request.remote_addr or ""


@bp.post("/logout")
@bp.output(OkOut)
@bp.doc(summary="End the session (every session of this user)")
@requires("viewer")
def logout() -> dict[str, Any]:
    principal = current_principal()
    if principal is not None and principal.user_id is not None:
        web_state().accounts.end_sessions(principal.user_id)
        audit("auth.logout", principal.name)
    end_session()
    return {"ok": True}


@bp.get("/me")
@bp.output(MeOut)
@bp.doc(summary="The caller: name, role, and the CSRF token for cookie sessions")
@requires("viewer")
def me() -> dict[str, Any]:
    principal = current_principal()
    return _me(csrf_token() if principal is not None and principal.kind != "token" else None)


def limit_login(app: Any, limiter: Any, limit: str) -> None:
    """Put the login view of ``app`` behind ``limit`` (the app factory owns the limiter)."""
    app.view_functions["session.login"] = limiter.limit(limit)(app.view_functions["session.login"])
