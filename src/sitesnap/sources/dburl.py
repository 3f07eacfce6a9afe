"""Database URLs: ``postgresql://user[:pass]@host:port/db`` and ``mysql://...``.

A parsed :class:`DatabaseURL` is how a server is named everywhere; its
:meth:`DatabaseURL.display` form never contains the password, so it is what
goes into messages, logs and snapshot records.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from urllib.parse import parse_qsl, quote, unquote, urlsplit, urlunsplit

from sitesnap.errors import ConfigError
from sitesnap.secrets import SecretRef, resolve

__all__ = ["DatabaseURL", "parse_database_url", "public_url", "redact_url", "url_text",
           "url_with_secret"]

_SCHEMES = {
    "postgresql": "postgres",
    "postgres": "postgres",
    "mysql": "mysql",
    "mariadb": "mysql",
}
_DEFAULT_PORTS = {"postgres": 5432, "mysql": 3306}


@dataclass(frozen=True)
class DatabaseURL:
    """A database server address and database name; ``password`` may be empty."""

    kind: str  # "postgres" | "mysql"
    scheme: str
    host: str
    port: int
    database: str
    user: str = ""
    password: str = ""
    params: tuple[tuple[str, str], ...] = ()

    def with_database(self, database: str) -> DatabaseURL:
        return replace(self, database=database)

    def display(self) -> str:
        """The URL without the password: safe for messages and records."""
        user = f"{self.user}@" if self.user else ""
        return f"{self.scheme}://{user}{self.host}:{self.port}/{self.database}"

    def __repr__(self) -> str:  # never show the password
        return f"DatabaseURL({self.display()!r})"

    __str__ = display


def parse_database_url(url: str, *, kind: str | None = None) -> DatabaseURL:
    """Parse ``url``; raises :class:`ConfigError` with a one-line reason.

    ``kind`` (``postgres``/``mysql``) rejects URLs of the other kind.  Percent
    escapes in user, password and database name are decoded.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"invalid database URL: {exc}") from exc
    scheme = parts.scheme.lower()
    found = _SCHEMES.get(scheme)
    if found is None:
        raise ConfigError(
            f"unsupported database URL scheme {scheme or '(none)'!r}",
            hint="Use postgresql://user@host:port/db or mysql://user@host:port/db.",
        )
    if kind is not None and found != kind:
        raise ConfigError(f"expected a {kind} URL, got a {scheme}:// URL")
    database = unquote(parts.path.lstrip("/"))
    if not database or "/" in database:
        raise ConfigError(f"database URL {scheme}://{parts.hostname or ''}/... names no database")
    return DatabaseURL(
        kind=found,
        scheme=scheme,
        host=parts.hostname or "127.0.0.1",
        port=port or _DEFAULT_PORTS[found],
        database=database,
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        params=tuple(parse_qsl(parts.query)),
    )


def url_with_secret(url: str, secret: SecretRef | None, *, what: str) -> str:
    """``url`` with the password from the ``secret`` reference, if any (the result is never logged)."""
    if secret is None:
        return url
    password = resolve(secret, what=what)
    parts = urlsplit(url)
    user = quote(parts.username or "", safe="")
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, f"{user}:{quote(password, safe='')}@{host}", parts.path, parts.query, ""))


def url_text(url: DatabaseURL) -> str:
    """``url`` as text, password included (for the source's own connections only)."""
    cred = quote(url.user, safe="") + (f":{quote(url.password, safe='')}" if url.password else "")
    netloc = f"{cred}@{url.host}:{url.port}" if cred else f"{url.host}:{url.port}"
    query = "&".join(f"{quote(k)}={quote(v)}" for k, v in url.params)
    return urlunsplit((url.scheme, netloc, "/" + quote(url.database), query, ""))


def redact_url(url: str) -> str:
    """``url`` with its password, if any, replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    return urlunsplit((parts.scheme, f"{parts.username}:***@{netloc[-1]}", parts.path, parts.query, ""))


def public_url(text: str, kind: str) -> str:
    """A database URL as shown to people: its :meth:`DatabaseURL.display` form, else redacted."""
    try:
        return parse_database_url(text, kind=kind).display()
    except ConfigError:
        return redact_url(text)
