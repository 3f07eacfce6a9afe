"""The hand-off's wire format and where its socket is, read from the config file without the config models.

Nothing here imports pydantic or :mod:`sitesnap.config`: the client runs
this before (instead of) loading them.  A test keeps :func:`read_site_address`
in step with :func:`sitesnap.config.load_config`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

__all__ = ["MAX_SOCKET_PATH", "PROTOCOL_VERSION", "Refused", "SiteAddress", "config_digest", "file_digest",
           "read_message", "read_site_address", "socket_path", "write_message"]

PROTOCOL_VERSION = 1
MAX_SOCKET_PATH = 107  # bytes: sun_path is 108 with its terminating NUL on Linux
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # as sitesnap.config.fields.Name


class Refused(Exception):
    """The scheduler will not run this request; the CLI runs it in-process instead."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class SiteAddress:
    """What the client needs from ``sitesnap.toml``; the same values the config models derive."""

    site: str
    state_dir: Path
    digest: str
    broker: str = ""

    @property
    def socket_path(self) -> Path:
        return socket_path(self.state_dir, self.site)


def socket_path(state_dir: str | os.PathLike[str], site: str) -> Path:
    """The scheduler's socket, beside its lock ``scheduler-<site>.lock``."""
    return Path(state_dir) / f"scheduler-{site}.sock"


def config_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_digest(path: str | os.PathLike[str]) -> str | None:
    """The digest of the file at ``path``, or None when it cannot be read."""
    try:
        return config_digest(Path(path).read_bytes())
    except OSError:
        return None


def read_site_address(config_path: str | os.PathLike[str]) -> SiteAddress | None:
    """Site name, state directory and digest of a config file, as :func:`sitesnap.config.load_config` reads them.

    ``[runtime] state_dir`` (default ``.sitesnap``) has ``~`` expanded and a
    relative one starts at the config file's directory, as in
    ``config.fields.resolve_path``.  Returns None when the file cannot be
    read or lacks a valid site name: the config models then say what is wrong.
    """
    try:
        data = Path(config_path).read_bytes()
        doc = tomllib.loads(data.decode("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    site, runtime = doc.get("site"), doc.get("runtime", {})
    name = site.get("name") if isinstance(site, dict) else None
    if not isinstance(name, str) or not _NAME.fullmatch(name) or not isinstance(runtime, dict):
        return None
    state, broker = runtime.get("state_dir", ".sitesnap"), runtime.get("broker", "")
    if not isinstance(state, str) or not state.strip() or not isinstance(broker, str):
        return None
    state_dir = Path(os.path.expanduser(state))
    if not state_dir.is_absolute():
        state_dir = Path(os.path.normpath(Path(config_path).absolute())).parent / state_dir
    return SiteAddress(name, Path(os.path.normpath(state_dir)), config_digest(data), broker)


def read_message(reader: IO[bytes], limit: int = -1) -> dict[str, Any] | None:
    """One JSON object per line; None at EOF, on a cut line (over ``limit``) or on anything else."""
    line = reader.readline(limit)
    if not line.endswith(b"\n"):
        return None
    try:
        message = json.loads(line)
    except ValueError:
        return None
    return message if isinstance(message, dict) else None



def write_message(message: dict[str, Any]) -> bytes:
    return json.dumps(message, default=str).encode() + b"\n"
