"""Choosing the PostgreSQL client programs (``pg_dump``, ``psql``) that fit a server.

The client matching the server's major version is chosen among
``/usr/lib/postgresql/*/bin`` and ``$PATH``; else the oldest newer one
(``pg_dump`` reads older servers, never newer ones).  A client older than the
server is refused with the Debian package to install.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence

from sitesnap.errors import MissingTool
from sitesnap.sources.dbtool import find_tool, tool_help, tool_version, version_numbers

__all__ = ["client_package", "find_client", "has_restrict_key", "pg_version", "pick_client", "short_version"]


def client_package(major: int) -> str:
    return f"postgresql-client-{major}"


def pick_client(candidates: Sequence[tuple[str, tuple[int, ...]]], server_major: int, name: str) -> str:
    """Choose a client program for a server of ``server_major``.

    ``candidates`` are (path, version) pairs.  The same major version is
    preferred, then the oldest newer one (pg_dump reads older servers, never
    newer ones).  Raises :class:`MissingTool` naming the package to install.
    """
    usable = sorted(
        (c for c in candidates if c[1] and c[1][0] >= server_major), key=lambda c: c[1][0]
    )
    if usable:
        return usable[0][0]
    hint = f"Install it: apt-get install {client_package(server_major)}"
    if candidates:
        newest = max(candidates, key=lambda c: c[1])
        found = ".".join(map(str, newest[1])) or "unknown"
        raise MissingTool(
            f"{name} {found} is older than the PostgreSQL {server_major} server (version mismatch)",
            hint=hint,
        )
    raise MissingTool(f"{name} is not installed", hint=hint)


def find_client(name: str, server_major: int, bin_dirs: Sequence[str] | None) -> tuple[str, str]:
    """(path, version line) of the best ``name`` program for ``server_major``, searching ``bin_dirs``."""
    dirs = list(bin_dirs) if bin_dirs is not None else None
    if dirs is None:
        versioned = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
        dirs = [*versioned, *os.environ.get("PATH", "").split(os.pathsep)]
    candidates: list[tuple[str, tuple[int, ...]]] = []
    seen: set[str] = set()
    for directory in dirs:
        path = find_tool([name], [directory])
        if path and os.path.realpath(path) not in seen:
            seen.add(os.path.realpath(path))
            version = pg_version(tool_version(path))
            candidates.append((path, version))
            if version[:1] == (server_major,):
                break  # the preferred match: no need to run the others (Debian's wrapper is slow)
    chosen = pick_client(candidates, server_major, name)
    return chosen, tool_version(chosen)


def pg_version(line: str) -> tuple[int, ...]:
    """``pg_dump (PostgreSQL) 15.20 (Debian ...)`` -> (15, 20)."""
    return version_numbers(line.split("(PostgreSQL)", 1)[-1])


def short_version(line: str) -> str:
    return ".".join(map(str, pg_version(line))) or line


# The first releases of each branch with ``--restrict-key`` (August 2025, CVE-2025-8714).
_RESTRICT_KEY_SINCE = {13: (13, 22), 14: (14, 19), 15: (15, 14), 16: (16, 10), 17: (17, 6)}


def has_restrict_key(program: str, version: tuple[int, ...]) -> bool:
    """Whether ``program`` takes ``--restrict-key``: known from its version, else asked (``--help``)."""
    if version and (version[0] >= 18 or version >= _RESTRICT_KEY_SINCE.get(version[0], (10**6,))):
        return True
    return "--restrict-key" in tool_help(program)
