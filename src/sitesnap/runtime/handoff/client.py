"""The CLI's half of the hand-off: connect to the site's scheduler, send the backup, read its events.

Imports nothing heavy (no pydantic, SQLAlchemy, database driver or config
models): a cold ``sitesnap -c site.toml backup`` that finds a scheduler
spends its time in the scheduler's backup, not in start-up.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from typing import IO, Any

from sitesnap.errors import SitesnapError
from sitesnap.progress import Progress
from sitesnap.runtime.handoff.protocol import (
    MAX_SOCKET_PATH,
    PROTOCOL_VERSION,
    Refused,
    read_message,
    read_site_address,
    write_message,
)

__all__ = ["ACCEPT_TIMEOUT", "Handoff", "hand_off_backup", "progress_from"]

ACCEPT_TIMEOUT = 30.0  # for the scheduler to accept or refuse a request


class Handoff:
    """A backup the scheduler accepted: its site and run ID, then its events up to the result.  Not thread-safe."""

    def __init__(self, sock: socket.socket, reader: IO[bytes], site: str, accepted: dict[str, Any]) -> None:
        self._sock = sock
        self._reader = reader
        self.site = site
        self.run_id = str(accepted.get("run_id", ""))
        self.pid = accepted.get("pid")

    def events(self) -> Iterator[dict[str, Any]]:
        """Every message after ``accepted``; the last is the ``result``.

        Raises :class:`SitesnapError` when the scheduler goes away first.
        """
        while True:
            message = read_message(self._reader)
            if message is None:
                raise SitesnapError(f"the site's scheduler stopped during the backup (run {self.run_id[:8]})",
                                    hint="See 'sitesnap runs'.")
            yield message
            if message.get("message_type") == "result":
                return

    def close(self) -> None:
        self._reader.close()
        self._sock.close()


def hand_off_backup(config_path: str | os.PathLike[str], params: dict[str, Any]) -> Handoff | None:
    """Ask the site's scheduler to run this backup.

    Returns None when no scheduler listens for the site on this machine (no
    socket, nobody listening, a broker site, an unreadable config); raises
    :class:`Refused` when one listens but will not run it.
    """
    address = read_site_address(config_path)
    if address is None or address.broker:
        return None
    path = os.fsencode(address.socket_path)
    if len(path) > MAX_SOCKET_PATH:
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    reader = sock.makefile("rb")
    try:
        sock.settimeout(ACCEPT_TIMEOUT)
        sock.connect(path)
        request = {"v": PROTOCOL_VERSION, "op": "backup", "params": params, "config_digest": address.digest}
        sock.sendall(write_message(request))
        first = read_message(reader)
    except OSError:  # ENOENT, ECONNREFUSED, EACCES, a timeout: nobody to hand it to
        reader.close()
        sock.close()
        return None
    kind = first.get("message_type") if first else None
    if kind == "accepted" and first is not None:
        sock.settimeout(None)  # a backup may be silent for long (waiting for the repository's lock)
        return Handoff(sock, reader, address.site, first)
    reader.close()
    sock.close()
    if kind == "refused" and first is not None:
        raise Refused(str(first.get("code", "")), str(first.get("reason", "")))
    return None


def progress_from(event: dict[str, Any]) -> Progress:
    """The :class:`Progress` a ``status`` message was made from."""
    fields = Progress.__dataclass_fields__
    return Progress(**{k: v for k, v in event.items() if k in fields})
