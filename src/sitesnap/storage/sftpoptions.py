"""The SFTP backend's options: the one definition of what ``[repositories.sftp]`` and ``sftp://`` accept.

Used when a storage is opened and, with ``resolve_secrets=False``, by the
config loader; light on purpose (no SSH library is imported here).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from sitesnap.errors import ConfigError
from sitesnap.secrets import SecretRef
from sitesnap.storage.options import RETRY_OPTIONS, reject_unknown, secret_value

__all__ = ["OPTIONS", "SFTPOptions", "parse_options"]

OPTIONS = frozenset(
    {"port", "username", "password", "key_file", "key_passphrase", "known_hosts",
     "connect_timeout", "timeout"}
) | RETRY_OPTIONS  # fmt: skip


@dataclass
class SFTPOptions:
    host: str
    path: str
    port: int = 22
    username: str | None = None
    password: str | None = None
    key_file: str | None = None
    key_passphrase: str | None = None
    known_hosts: str | None = None
    connect_timeout: float = 30.0
    timeout: float = 600.0


def parse_options(url: str, options: Mapping[str, Any], *, resolve_secrets: bool = True) -> SFTPOptions:
    """Merge URL and options into :class:`SFTPOptions`; raise ConfigError on nonsense.

    ``resolve_secrets=False`` (validating a configuration) leaves secret references unread.
    """
    reject_unknown(options, OPTIONS, "sftp")
    parts = urlsplit(url)
    if not parts.hostname:
        raise ConfigError(f"SFTP URL without a host: {url}", hint="Use sftp://user@host/path.")
    path = unquote(parts.path) or "/"
    if path.startswith("/~/") or path == "/~":
        path = path[3:] or "."
    opts = SFTPOptions(host=parts.hostname, path=path.rstrip("/") or "/")
    try:
        opts.port = int(options.get("port", parts.port or 22))
        opts.connect_timeout = float(options.get("connect_timeout", opts.connect_timeout))
        opts.timeout = float(options.get("timeout", opts.timeout))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"bad SFTP option: {exc}") from None
    opts.username = options.get("username") or (unquote(parts.username) if parts.username else None)
    if parts.password:
        raise ConfigError(
            "put the SFTP password in the options, not in the URL",
            hint='Use password = {env = "NAME"} or a key file.',
        )
    for key in ("password", "key_passphrase"):
        value = options.get(key)
        if resolve_secrets or value is None or isinstance(value, str):
            setattr(opts, key, secret_value(value, f"sftp {key}"))
        elif not isinstance(value, SecretRef) and not (isinstance(value, Mapping) and set(value) <= {"env", "file"}):
            secret_value(value, f"sftp {key}")  # raises: neither text nor a secret reference
    opts.key_file = options.get("key_file")
    opts.known_hosts = options.get("known_hosts")
    return opts
