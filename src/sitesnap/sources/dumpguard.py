"""Restores never let a dump run client commands.

A dump is data from the repository, and whoever can add a snapshot can write
one: a write-only host, or anyone with write access to the storage and a
write-only key.  ``psql`` runs meta-commands such as ``\\! cmd`` (a shell)
found in its input and the ``mariadb`` client runs ``system cmd``, so a
forged dump restored or drilled on the host that holds the password would
run commands there.  Both clients are therefore started in their restricted
modes, whatever the dump says:

* psql: the stream fed to it starts with ``\\restrict KEY`` for a fresh random
  key (PostgreSQL 13.22, 14.19, 15.14, 16.10, 17.6 and later), after which
  psql refuses every backslash command but ``\\unrestrict KEY``.  pg_dump's
  own ``\\restrict``/``\\unrestrict`` lines (leading comment block, after the
  "dump complete" trailer) are taken out, since a restricted psql refuses them.
* mariadb: ``--sandbox`` (MariaDB 10.5.25, 10.6.18, 10.11.8 and later).

A client too old for either is refused with the package to install.
"""

from __future__ import annotations

import re
import secrets

from sitesnap.errors import MissingTool

__all__ = ["PsqlRestricted", "mariadb_sandbox_flag", "require_psql_restrict"]

_HEAD = 8 << 10
_TAIL = 1 << 10
_OWN_RESTRICT = re.compile(rb"\\restrict [A-Za-z0-9]+\n")
_OWN_UNRESTRICT = re.compile(rb"\n\\unrestrict [A-Za-z0-9]+\n(?=\s*\Z)")
_PG_DONE = b"-- PostgreSQL database dump complete"
_RESTRICT_SINCE = {13: (13, 22), 14: (14, 19), 15: (15, 14), 16: (16, 10), 17: (17, 6)}


def psql_can_restrict(version: tuple[int, ...]) -> bool:
    return bool(version) and (version[0] >= 18 or version >= _RESTRICT_SINCE.get(version[0], (10**6,)))


def require_psql_restrict(version: tuple[int, ...], version_line: str, package: str) -> None:
    """Refuse a psql that cannot be restricted (MissingTool naming the package)."""
    if not psql_can_restrict(version):
        raise MissingTool(
            f"{version_line or 'psql'} cannot refuse the commands a dump may contain (\\restrict)",
            hint=f"Install a current client: apt-get install --only-upgrade {package} "
                 "(PostgreSQL 13.22, 14.19, 15.14, 16.10, 17.6 or later).",
        )


def mariadb_sandbox_flag(help_text: str, program: str) -> str:
    """The client option that disables its shell and file commands; MissingTool if it has none."""
    if "--sandbox" in help_text:
        return "--sandbox"
    raise MissingTool(
        f"{program} has no --sandbox mode, so a restored dump could run commands on this host",
        hint="Install MariaDB's client 10.5.25, 10.6.18, 10.11.8 or later (apt-get install mariadb-client).",
    )


class PsqlRestricted:
    """Rewrites a dump for psql as it streams by: restricted first, pg_dump's own (un)restrict lines out.

    Push style: :meth:`feed` each block read from the dump and send what it
    returns to psql, then send :meth:`finish` at the end.  Holds back at most
    the first 8 KiB (to find pg_dump's ``\\restrict`` line) and the last 1 KiB
    (its ``\\unrestrict`` line).
    """

    def __init__(self, key: str | None = None) -> None:
        self._key = key or secrets.token_hex(16)
        self._head: bytes | None = b""  # None once the head was sent
        self._held = b""

    def feed(self, data: bytes) -> bytes:
        if self._head is not None:
            self._head += data
            if len(self._head) < _HEAD:
                return b""
            data, self._head = self._start(self._head), None
        buf = self._held + data
        self._held = buf[-_TAIL:]
        return buf[:-_TAIL]

    def finish(self) -> bytes:
        if self._head is not None:
            rest, self._head = self._start(self._head), None
        else:
            rest = self._held
        self._held = b""
        return _drop_own_unrestrict(rest)

    def _start(self, head: bytes) -> bytes:
        return f"\\restrict {self._key}\n".encode() + _drop_own_restrict(head)


def _drop_own_restrict(head: bytes) -> bytes:
    """Remove pg_dump's ``\\restrict KEY`` line if it directly follows the leading comment block."""
    pos = 0
    while pos < len(head):
        end = head.find(b"\n", pos)
        if end < 0:
            return head
        line = head[pos:end]
        if line == b"" or line.startswith(b"--"):
            pos = end + 1
            continue
        match = _OWN_RESTRICT.match(head, pos)
        return head[:pos] + head[match.end():] if match else head
    return head


def _drop_own_unrestrict(tail: bytes) -> bytes:
    """Remove pg_dump's final ``\\unrestrict KEY`` line, found only after its "dump complete" trailer."""
    match = _OWN_UNRESTRICT.search(tail)
    if match and _PG_DONE in tail[: match.start()]:
        return tail[: match.start() + 1] + tail[match.end():]
    return tail
