"""What a database user must be allowed, and telling a missing privilege from damaged data.

:data:`NEEDS` is the one table of the privileges each database kind needs
for each action (``docs/privileges.md`` documents exactly it; a test
compares them).  :func:`denied` recognises a server's or client program's
"permission denied" in an error text, and :func:`privilege_error` turns it
into a :class:`PrivilegeError` naming the privilege, so a user without
``CREATE`` is told so instead of seeing an integrity or restore failure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Protocol

from sitesnap.errors import PrivilegeError, SourceError

__all__ = ["DENIED_CODES", "NEEDS", "denied", "dump_failure", "privilege_error"]

NEEDS: Mapping[tuple[str, str], str] = MappingProxyType({
    ("postgres", "backup"): "CONNECT on the database, USAGE on its schemas and SELECT on every table and "
                            "sequence (PostgreSQL 14+: the pg_read_all_data role)",
    ("postgres", "restore"): "CREATEDB (the dump is loaded into a temporary database beside the target, "
                             "then renamed into place) and ownership of the target database",
    ("postgres", "drill"): "CREATEDB (the drill loads into a scratch database <db>_drill_<hex> and drops it)",
    ("mysql", "backup"): "SELECT, SHOW VIEW, TRIGGER and EVENT on the database (mariadb-dump --events runs "
                         "SHOW EVENTS), and SELECT on mysql.proc for routines",
    ("mysql", "restore"): "ALL PRIVILEGES on the database and on the temporary databases "
                          "`<db>__sitesnap_%` (CREATE and DROP included; tables are renamed across them)",
    ("mysql", "drill"): "ALL PRIVILEGES on the scratch databases `<db>_drill_%` (CREATE and DROP included)",
})  # fmt: skip

# PostgreSQL: "permission denied ...", "must be owner of ...", SQLSTATE 42501; MySQL/MariaDB: errors
# 1044 (access to a database), 1142/1143 (a command on a table/column), 1227 (a global privilege).
_DENIED = re.compile(
    r"permission denied|must be owner|insufficient privilege|42501|access denied for user"
    r"|command denied to user|\((?:1044|1142|1143|1227)\)|^(?:1044|1142|1143|1227)\b",
    re.IGNORECASE | re.MULTILINE,
)
DENIED_CODES = frozenset({1044, 1142, 1143, 1227})
"""MySQL/MariaDB error numbers that mean a missing privilege (not a wrong password: 1045)."""


_WRONG_LOGIN = re.compile(r"\(1045\)|using password:|password authentication failed", re.IGNORECASE)


def denied(text: str) -> bool:
    """Whether ``text`` (a server error or a client program's stderr) says a privilege is missing.

    A refused login (wrong password, MySQL error 1045) is not a missing privilege.
    """
    return bool(_DENIED.search(text)) and not _WRONG_LOGIN.search(text)


class FailedTool(Protocol):
    def stderr_text(self) -> str: ...
    def error_line(self) -> str: ...


def dump_failure(kind: str, what: str, tool: FailedTool) -> SourceError:
    """The error for a dump program that failed: :class:`PrivilegeError` when it was refused a privilege."""
    if denied(tool.stderr_text()):
        return privilege_error(kind, "backup", what, tool.error_line())
    return SourceError(f"{what} failed: {tool.error_line()}")


def privilege_error(kind: str, action: str, what: str, detail: str) -> PrivilegeError:
    """``<what> was refused: <detail>; <action> of a <kind> database needs <privileges>``."""
    needs = NEEDS.get((kind, action), "")
    tail = f"; {action} of a {kind} database needs {needs}" if needs else ""
    return PrivilegeError(f"{what} was refused: {detail}{tail}")
