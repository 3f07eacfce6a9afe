"""One error tree for all of sitesnap.

Every error a user can cause or meet derives from :class:`SitesnapError`.  Its
docstring's first line is the message template (``str.format`` with the
keyword arguments given to the constructor), ``exit_code`` is what the CLI
exits with, ``http_status`` what the API answers, and ``hint`` tells the user
what to do next.  The CLI and the API map errors in exactly one place each, so
a user mistake never shows a traceback.

::

    SitesnapError                     exit 1
    ├── UsageError                    exit 2   bad arguments or configuration
    │   └── ConfigError               exit 2
    ├── RepositoryNotFound            exit 10
    ├── RepositoryExists              exit 11
    ├── WrongPassword                 exit 12
    │   └── RetiredKey                exit 12  the password opens a key 'key rotate' replaced
    ├── RepositoryLocked              exit 13
    ├── IntegrityError                exit 14  damaged or tampered data
    │   └── FormatVersionError        exit 14
    ├── StorageError                  exit 15  backend failed (after retries)
    │   ├── ObjectNotFound            exit 15
    │   ├── ObjectExists              exit 15
    │   ├── PermissionDenied          exit 15
    │   └── NoSpace                   exit 16
    ├── SourceError                   exit 17  a source could not be read
    │   ├── MissingTool               exit 18  pg_dump / mariadb-dump missing
    │   └── PrivilegeError            exit 31  the database user lacks a privilege (named)
    ├── RestoreError                  exit 19
    ├── SnapshotNotFound              exit 20
    ├── AppendOnlyError               exit 21
    ├── NotificationError             exit 22  an alert channel could not deliver
    ├── CatalogError                  exit 23  the catalog database is unreachable or unusable
    ├── RecordNotFound                exit 24  no such run or record in the catalog
    ├── BrokerError                   exit 25  the job broker (Redis) is unreachable
    ├── AlreadyRunning                exit 26  a second scheduler for one site
    ├── NotAuthenticated              exit 27  the API needs credentials (HTTP 401)
    ├── AccessDenied                  exit 28  the role does not allow it (HTTP 403)
    ├── WriteOnlyError                exit 29  a write-only key cannot read or restore
    ├── CopyFailed                    exit 30  a backup was saved, but a configured copy of it failed
    └── Interrupted                   exit 130
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "AccessDenied",
    "AlreadyRunning",
    "AppendOnlyError",
    "BrokerError",
    "CatalogError",
    "ConfigError",
    "CopyFailed",
    "FormatVersionError",
    "IntegrityError",
    "Interrupted",
    "MissingTool",
    "NoSpace",
    "NotAuthenticated",
    "NotificationError",
    "ObjectExists",
    "ObjectNotFound",
    "PermissionDenied",
    "PrivilegeError",
    "RecordNotFound",
    "RepositoryExists",
    "RepositoryLocked",
    "RepositoryNotFound",
    "RestoreError",
    "RetiredKey",
    "SitesnapError",
    "SnapshotNotFound",
    "SourceError",
    "StorageError",
    "UsageError",
    "WriteOnlyError",
    "WrongPassword",
    "all_errors",
]


class SitesnapError(Exception):
    """{detail}"""

    exit_code: ClassVar[int] = 1
    http_status: ClassVar[int] = 500
    code: ClassVar[str] = "error"
    default_hint: ClassVar[str] = ""

    def __init__(self, detail: str = "", *, hint: str | None = None, **kwargs: Any) -> None:
        self.kwargs: dict[str, Any] = {"detail": detail, **kwargs}
        self.hint = hint if hint is not None else self.default_hint
        super().__init__(self.message)

    @property
    def message(self) -> str:
        template = (type(self).__doc__ or "{detail}").strip().splitlines()[0]
        try:
            text = template.format(**self.kwargs)
        except (KeyError, IndexError):
            text = str(self.kwargs.get("detail") or template)
        detail = self.kwargs.get("detail")
        if detail and "{detail}" not in template:
            text = f"{text}: {detail}"
        return text

    def to_dict(self) -> dict[str, Any]:
        """The JSON error shape shared by ``--json`` output and the REST API."""
        out: dict[str, Any] = {"error": self.code, "message": self.message, "exit_code": self.exit_code}
        if self.hint:
            out["hint"] = self.hint
        return out


class UsageError(SitesnapError):
    """{detail}"""

    exit_code = 2
    http_status = 400
    code = "usage"


class ConfigError(UsageError):
    """Invalid configuration: {detail}"""

    code = "config"


class RepositoryNotFound(SitesnapError):
    """No repository at {location}"""

    exit_code = 10
    http_status = 404
    code = "repository_not_found"
    default_hint = "Check the repository URL, or create one with 'sitesnap init'."


class RepositoryExists(SitesnapError):
    """A repository already exists at {location}"""

    exit_code = 11
    http_status = 409
    code = "repository_exists"


class WrongPassword(SitesnapError):
    """Wrong password: no key in the repository opens with it"""

    exit_code = 12
    http_status = 401
    code = "wrong_password"
    default_hint = "Set SITESNAP_PASSWORD or SITESNAP_PASSWORD_FILE to the repository's password."


class RetiredKey(WrongPassword):
    """This password belongs to a retired master key; 'sitesnap key rotate' removed it"""

    code = "retired_key"
    default_hint = (
        "Use the password given at the rotation or one added since ('sitesnap key list' shows the slots); "
        "see docs/keys.md, 'Changing the master key'."
    )


class RepositoryLocked(SitesnapError):
    """Repository is locked: {detail}"""

    exit_code = 13
    http_status = 409
    code = "locked"
    default_hint = (
        "Wait for the other operation to finish. If it crashed, 'sitesnap unlock' removes "
        "stale locks."
    )


class IntegrityError(SitesnapError):
    """Integrity error: {detail}"""

    exit_code = 14
    http_status = 500
    code = "integrity"
    default_hint = "Run 'sitesnap check --read-data' to see all damage, then 'sitesnap repair'."


class FormatVersionError(IntegrityError):
    """Unsupported repository format: {detail}"""

    code = "format_version"
    default_hint = "Upgrade sitesnap to a version that reads this repository."


class StorageError(SitesnapError):
    """Storage error: {detail}"""

    exit_code = 15
    http_status = 502
    code = "storage"

    def __init__(
        self, detail: str = "", *, transient: bool = False, hint: str | None = None, **kwargs: Any
    ) -> None:
        # ``transient`` marks failures worth retrying (timeouts, 5xx, dropped
        # connections); the retry wrapper retries nothing else.
        super().__init__(detail, hint=hint, **kwargs)
        self.transient = transient


class ObjectNotFound(StorageError):
    """Object not found: {detail}"""

    code = "not_found"
    http_status = 404


class ObjectExists(StorageError):
    """Object already exists: {detail}"""

    code = "exists"
    http_status = 409


class PermissionDenied(StorageError):
    """Permission denied: {detail}"""

    code = "permission_denied"
    http_status = 403


class NoSpace(StorageError):
    """No space left on the repository's storage: {detail}"""

    exit_code = 16
    code = "no_space"
    default_hint = "Free space (or run 'sitesnap prune'); the repository was left consistent."


class CopyFailed(SitesnapError):
    """Copy failed: {detail}"""

    exit_code = 30
    http_status = 502
    code = "copy_failed"
    default_hint = "The snapshot is safe in the primary; fix the other repository, then run 'sitesnap copy --to NAME'."


class SourceError(SitesnapError):
    """Cannot read source: {detail}"""

    exit_code = 17
    http_status = 422
    code = "source"


class MissingTool(SourceError):
    """Required program not found: {detail}"""

    exit_code = 18
    code = "missing_tool"


class PrivilegeError(SourceError):
    """Database privilege missing: {detail}"""

    exit_code = 31
    http_status = 422
    code = "privilege"
    default_hint = ("Grant the privilege named above to the database user, or use a user that has it; "
                    "docs/privileges.md lists what backup, restore and drills need.")


class RestoreError(SitesnapError):
    """Restore failed: {detail}"""

    exit_code = 19
    http_status = 500
    code = "restore"


class SnapshotNotFound(SitesnapError):
    """No snapshot matches {detail}"""

    exit_code = 20
    http_status = 404
    code = "snapshot_not_found"
    default_hint = "List snapshots with 'sitesnap snapshots'."


class AppendOnlyError(SitesnapError):
    """Refused: {detail}"""

    exit_code = 21
    http_status = 403
    code = "append_only"
    default_hint = "This repository is append-only; run forget/prune with separate credentials."


class NotificationError(SitesnapError):
    """Cannot send notification: {detail}"""

    exit_code = 22
    http_status = 502
    code = "notification"
    default_hint = "Check the channel's address and credentials, then run 'sitesnap alert test'."


class CatalogError(SitesnapError):
    """Catalog error: {detail}"""

    exit_code = 23
    http_status = 503
    code = "catalog"
    default_hint = "Check the catalog URL and that its database server is running."


class RecordNotFound(SitesnapError):
    """Not in the catalog: {detail}"""

    exit_code = 24
    http_status = 404
    code = "record_not_found"


class BrokerError(SitesnapError):
    """Cannot reach the job broker: {detail}"""

    exit_code = 25
    http_status = 503
    code = "broker"
    default_hint = "Check [runtime] broker in the site configuration and that Redis is running."


class AlreadyRunning(SitesnapError):
    """Already running: {detail}"""

    exit_code = 26
    http_status = 409
    code = "already_running"
    default_hint = "Stop the other process first; only one may run per site."


class NotAuthenticated(SitesnapError):
    """Not authenticated: {detail}"""

    exit_code = 27
    http_status = 401
    code = "unauthorized"
    default_hint = "Log in, or send 'Authorization: Bearer <token>' (create one with 'sitesnap token create')."


class AccessDenied(SitesnapError):
    """Access denied: {detail}"""

    exit_code = 28
    http_status = 403
    code = "forbidden"


class WriteOnlyError(SitesnapError):
    """Not possible with a write-only key: {detail}"""

    exit_code = 29
    http_status = 403
    code = "write_only"
    default_hint = "A write-only key can only add snapshots; read, restore and check with the repository password."


class Interrupted(SitesnapError):
    """Interrupted"""

    exit_code = 130
    http_status = 499
    code = "interrupted"


def all_errors() -> list[type[SitesnapError]]:
    """Every error class, for the documentation test and the exit-code table."""
    seen: list[type[SitesnapError]] = []
    stack: list[type[SitesnapError]] = [SitesnapError]
    while stack:
        cls = stack.pop(0)
        if cls not in seen:
            seen.append(cls)
            stack.extend(cls.__subclasses__())
    return seen
