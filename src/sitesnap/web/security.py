"""Browser-facing hardening: security headers, cookie settings, the session key, login rate limits.

Login attempts are counted in the broker's Redis when one is configured
(shared by every server of the site), else in memory.  Cookies are
HttpOnly and SameSite=Lax always, Secure when the server speaks TLS
itself (``[web] tls_cert``) or sits behind a TLS-terminating proxy
(``[web] behind_proxy``, which also trusts one hop of ``X-Forwarded-For``,
``-Proto``, ``-Host`` and ``-Prefix``).  The session key comes from
``[web] secret_key``, else from ``<state_dir>/web-secret-key`` (created
once, mode 0600), so every server process of the site signs alike and
sessions survive restarts.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

from flask import Flask, Response, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from werkzeug.middleware.proxy_fix import ProxyFix

from sitesnap.config import SiteConfig
from sitesnap.errors import ConfigError
from sitesnap.secrets import resolve

__all__ = ["LOGIN_LIMIT", "configure_security", "limiter_storage", "login_limiter", "secret_key"]

LOGIN_LIMIT = "10 per minute"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'")


def secret_key(cfg: SiteConfig) -> str:
    """The session signing key: configured, or generated once into the state directory."""
    if cfg.web.secret_key is not None:
        key = resolve(cfg.web.secret_key, what="web.secret_key")
        if len(key) < 16:
            raise ConfigError("web.secret_key: use at least 16 random characters")
        return key
    path = Path(cfg.runtime.state_dir) / "web-secret-key"
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another worker made it first
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key)
    return key


def configure_security(app: Flask, cfg: SiteConfig, *, testing: bool = False) -> None:
    """Cookie settings, proxy handling and the response headers."""
    secure = cfg.web.tls_cert is not None or cfg.web.behind_proxy
    app.config.update(
        SECRET_KEY=app.config.get("SECRET_KEY") or secret_key(cfg),
        SESSION_COOKIE_NAME="sitesnap_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure and not testing,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,
    )
    if cfg.web.behind_proxy:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1, x_prefix=1)  # type: ignore[method-assign]

    @app.after_request
    def _headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CSP)
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if request.is_secure:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        if request.path.rstrip("/").endswith(("/api/v1", "/metrics")) or "/api/" in request.path:
            headers.setdefault("Cache-Control", "no-store")
        return response


def limiter_storage(cfg: SiteConfig) -> str:
    """Where login attempts are counted: the broker's Redis when there is one, else this process's memory.

    With a broker, several servers (or processes) may serve one site; counting
    in Redis makes the limit hold across all of them instead of multiplying by
    their number.
    """
    broker = cfg.runtime.broker
    return broker if broker.startswith(("redis://", "rediss://")) else "memory://"


def login_limiter(app: Flask, cfg: SiteConfig) -> Limiter:
    """A limiter keyed by client address and stored per :func:`limiter_storage`.

    Keys are prefixed with the site's name so sites sharing one Redis count
    apart.  Should Redis become unreachable, counting falls back to memory
    instead of failing logins.
    """
    return Limiter(get_remote_address, app=app, storage_uri=limiter_storage(cfg), default_limits=[],
                   headers_enabled=True, key_prefix=f"sitesnap:{cfg.site.name}",
                   in_memory_fallback_enabled=True)
