"""Who is calling, and may they: the auth-rule registry and its enforcement.

Every view declares the least role it needs with :func:`requires`
(``viewer`` < ``operator`` < ``admin``), or :func:`public`.  One
``before_request`` hook (:func:`authorize`) enforces the rule of the matched
endpoint; an endpoint without a rule is refused (fail closed), and
``tests/web`` fails when one exists at all.

Credentials, in order: ``Authorization: Bearer <token>`` (API tokens from
the catalog, no CSRF: a browser never sends them by itself), the session
cookie (a signed cookie holding the user id and the user's session nonce,
so logout and password changes end it everywhere), then the host
application's logged-in user when the Flask extension maps one to a role.
Cookie-authenticated unsafe requests (POST, PUT, PATCH, DELETE) need the
session's CSRF token in the ``X-CSRF-Token`` header.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Flask, current_app, g, request, session

from sitesnap.catalog import ROLES, role_at_least
from sitesnap.errors import AccessDenied, NotAuthenticated
from sitesnap.web.state import web_state

__all__ = [
    "CSRF_HEADER",
    "PUBLIC",
    "PUBLIC_METRICS",
    "Principal",
    "authorize",
    "csrf_token",
    "current_principal",
    "end_session",
    "public",
    "public_if_metrics_public",
    "requires",
    "route_rule",
    "start_session",
]

F = TypeVar("F", bound=Callable[..., Any])

RULE_ATTR = "_sitesnap_rule"
PUBLIC = "public"
PUBLIC_METRICS = "public-metrics"  # public only when [web] public_metrics is true
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Principal:
    """The caller: ``kind`` is ``session``, ``token`` or ``host``."""

    name: str
    role: str
    kind: str
    user_id: int | None = None
    token_id: int | None = None

    @property
    def actor(self) -> str:
        """How the audit log names the caller."""
        if self.kind == "token":
            return f"token:{self.token_id}:{self.name}" if self.name else f"token:{self.token_id}"
        if self.kind == "host":
            return f"host:{self.name}"
        return self.name


def requires(role: str) -> Callable[[F], F]:
    """Declare the least role a view needs; put it directly above ``def``."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")

    def mark(view: F) -> F:
        setattr(view, RULE_ATTR, role)
        return view

    return mark


def public(view: F) -> F:
    """Declare a view that answers without credentials (login, health, console assets)."""
    setattr(view, RULE_ATTR, PUBLIC)
    return view


def public_if_metrics_public(view: F) -> F:
    """Public when ``[web] public_metrics`` is true, else for viewers and up (``/metrics``)."""
    setattr(view, RULE_ATTR, PUBLIC_METRICS)
    return view


def route_rule(app: Flask, endpoint: str) -> str | None:
    """The declared rule of ``endpoint``, None when it has none."""
    view = app.view_functions.get(endpoint)
    rule = getattr(view, RULE_ATTR, None)
    return str(rule) if rule is not None else None


def current_principal() -> Principal | None:
    principal: Principal | None = g.get("sitesnap_principal")
    return principal


def authorize() -> None:
    """The ``before_request`` hook: authenticate, check CSRF, enforce the route's rule."""
    if request.endpoint is None:  # 404 or 405: let Flask answer
        return
    rule = route_rule(current_app, request.endpoint)
    if rule is None:
        raise AccessDenied(f"{request.endpoint} declares no access rule")
    principal = _identify()
    g.sitesnap_principal = principal
    if rule == PUBLIC or (rule == PUBLIC_METRICS and web_state().public_metrics):
        return
    needed = "viewer" if rule == PUBLIC_METRICS else rule
    if principal is None:
        raise NotAuthenticated("log in or send an API token")
    if principal.kind != "token" and request.method not in SAFE_METHODS:
        _check_csrf()
    if not role_at_least(principal.role, needed):
        raise AccessDenied(f"this needs the {needed} role; {principal.actor} is {principal.role}")


def _identify() -> Principal | None:
    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.partition(" ")
    if header:
        if scheme.lower() != "bearer" or not credentials.strip():
            raise NotAuthenticated("the Authorization header must be 'Bearer <token>'")
        token = web_state().accounts.authenticate_token(credentials.strip())
        if token is None:
            raise NotAuthenticated("unknown or revoked API token")
        return Principal(token.name, token.role, "token", token_id=token.id)
    user_id, nonce = session.get("uid"), session.get("nonce")
    if isinstance(user_id, int) and isinstance(nonce, str):
        user = web_state().accounts.get_user_by_id(user_id)
        if user is not None and user.active and hmac.compare_digest(user.session_nonce, nonce):
            return Principal(user.name, user.role, "session", user_id=user.id)
        session.clear()
    host_user = web_state().host_user
    if host_user is not None:
        found = host_user()
        if found is not None and found[0] in ROLES:
            return Principal(found[1], found[0], "host")
    return None


def _check_csrf() -> None:
    expected = session.get("csrf")
    given = request.headers.get(CSRF_HEADER, "")
    if not isinstance(expected, str) or not given or not hmac.compare_digest(expected, given):
        raise AccessDenied(f"missing or wrong {CSRF_HEADER} header",
                           hint="Send the csrf_token from GET /api/v1/auth/me in the X-CSRF-Token header.")


def csrf_token() -> str:
    """The session's CSRF token, created on first use."""
    token = session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def start_session(user_id: int, nonce: str) -> str:
    """Log a user in: a fresh session (no fixation) with a new CSRF token; returns the token."""
    session.clear()
    session.permanent = True
    session["uid"] = user_id
    session["nonce"] = nonce
    return csrf_token()


def end_session() -> None:
    session.clear()
