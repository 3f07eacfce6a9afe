"""PostgreSQL source: streamed ``pg_dump`` out, fresh database swapped in.

Dump: ``pg_dump --format=plain`` runs in one REPEATABLE READ transaction of
its own (a consistent snapshot while the site writes) and its stdout is the
stream, with no temp file.  Plain SQL with one line per row deduplicates
well between runs.  Row counts are taken from the stream itself
(:class:`~sitesnap.sources.dumpscan.PgPlainScanner` counts the lines of each
``COPY`` block), so they are exactly what the dump contains, at no extra
query cost; a truncated stream is detected by the missing closing comment
and the program's exit status.  ``pg_dump`` 15.14+ writes a random
``\\restrict`` key into every dump; we pass a fixed per-database key so two
dumps of an unchanged database are byte-identical (set ``restrict_key`` to a
secret value if the server itself is untrusted).

Connection parameters and the password reach the programs through the
environment (``PGHOST``, ``PGPASSWORD``...), never through ``argv``.  The
client matching the server's major version is chosen among
``/usr/lib/postgresql/*/bin`` and ``$PATH``; a client older than the server
is refused with the Debian package to install.

Restore: into a fresh database ``<db>__sitesnap_<hex>`` with
``psql -X -q -v ON_ERROR_STOP=1 --single-transaction``; then its table list
and row counts are compared with the record.  Only then is it swapped in, in
one transaction of two ``ALTER DATABASE ... RENAME``: other sessions of the
target are terminated first, the old database is dropped afterwards (or kept
under ``<db>__sitesnap_old_<hex>`` when ``keep_old``).  A failure at any step
before the swap drops the fresh database and leaves the target untouched.
The swap carries the database's owner over; database-level settings
(``ALTER DATABASE ... SET``) and grants on the database object itself are
not part of a plain dump and are not carried over.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import re
import secrets
import subprocess
import time
from collections.abc import Iterator, Sequence
from typing import Any, BinaryIO

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from sitesnap.errors import MissingTool, RestoreError, SourceError
from sitesnap.progress import NULL_SINK, ProgressSink, Tracker
from sitesnap.sources.db import DumpInfo, DumpInfoFuture, RestoreReport, TargetState
from sitesnap.sources.dbtool import (
    ProcessStream,
    ToolProcess,
    feed_dump,
    find_tool,
    tool_help,
    tool_version,
    version_numbers,
)
from sitesnap.sources.dburl import DatabaseURL, parse_database_url
from sitesnap.sources.dumpguard import PsqlRestricted, require_psql_restrict
from sitesnap.sources.dumpscan import PgPlainScanner

__all__ = ["PostgresSource", "pick_client"]

_BLOCK = 1 << 20
_TABLES_SQL = """
SELECT n.nspname, c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND c.relpersistence IN ('p', 'u')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1, 2
"""


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


class PostgresSource:
    """A PostgreSQL database named by a ``postgresql://`` URL.  One operation at a time."""

    kind = "postgres"

    def __init__(
        self,
        url: str,
        *,
        name: str = "",
        no_owner: bool = False,
        no_privileges: bool = False,
        keep_old: bool = False,
        bin_dirs: Sequence[str] | None = None,
        connect_timeout: int = 10,
        restrict_key: str | None = None,
    ) -> None:
        self.url = parse_database_url(url, kind="postgres")
        self.name = name or self.url.database
        self.no_owner = no_owner
        self.no_privileges = no_privileges
        self.keep_old = keep_old
        self.bin_dirs = list(bin_dirs) if bin_dirs is not None else None
        self.connect_timeout = connect_timeout
        self.restrict_key = restrict_key

    # -- connections and programs ----------------------------------------

    def _connect(self, url: DatabaseURL, *, autocommit: bool = True) -> psycopg.Connection[Any]:
        try:
            conninfo = make_conninfo(
                "",
                host=url.host,
                port=url.port,
                user=url.user or None,
                password=url.password or None,
                dbname=url.database,
                connect_timeout=self.connect_timeout,
                application_name="sitesnap",
                **dict(url.params),
            )
            return psycopg.connect(conninfo, autocommit=autocommit)
        except psycopg.Error as exc:
            raise SourceError(connect_error(url, exc)) from exc

    def _maintenance(self, url: DatabaseURL) -> psycopg.Connection[Any]:
        """A connection to the server's ``postgres`` (else ``template1``) database."""
        try:
            return self._connect(url.with_database("postgres"))
        except SourceError as exc:
            if "does not exist" not in str(exc):
                raise
            return self._connect(url.with_database("template1"))

    def _client(self, name: str, server_major: int) -> tuple[str, str]:
        """(path, version line) of the best ``pg_dump``/``psql`` for ``server_major``."""
        dirs = self.bin_dirs
        if dirs is None:
            versioned = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
            dirs = [*versioned, *os.environ.get("PATH", "").split(os.pathsep)]
        candidates: list[tuple[str, tuple[int, ...]]] = []
        seen: set[str] = set()
        for directory in dirs:
            path = find_tool([name], [directory])
            if path and os.path.realpath(path) not in seen:
                seen.add(os.path.realpath(path))
                version = _pg_version(tool_version(path))
                candidates.append((path, version))
                if version[:1] == (server_major,):
                    break  # the preferred match: no need to run the others (Debian's wrapper is slow)
        chosen = pick_client(candidates, server_major, name)
        return chosen, tool_version(chosen)

    def _env(self, url: DatabaseURL, app: str) -> dict[str, str]:
        env = {
            "PGHOST": url.host,
            "PGPORT": str(url.port),
            "PGDATABASE": url.database,
            "PGAPPNAME": app,
            "PGCONNECT_TIMEOUT": str(self.connect_timeout),
        }
        if url.user:
            env["PGUSER"] = url.user
        if url.password:
            env["PGPASSWORD"] = url.password
        params = dict(url.params)
        if "sslmode" in params:
            env["PGSSLMODE"] = params["sslmode"]
        return env

    # -- dump -------------------------------------------------------------

    @contextlib.contextmanager
    def dump(self) -> Iterator[tuple[BinaryIO, DumpInfoFuture]]:
        """Stream ``pg_dump``'s plain SQL; see the module docstring.

        Raises :class:`SourceError` (server unreachable, authentication, no
        such database, dump failed or cut short) or :class:`MissingTool`.
        """
        with self._connect(self.url) as conn:
            server_version = str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
            server_major = conn.info.server_version // 10000
        pg_dump, version_line = self._client("pg_dump", server_major)
        argv = [pg_dump, "--format=plain", "--no-password"]
        if self.no_owner:
            argv.append("--no-owner")
        if self.no_privileges:
            argv.append("--no-privileges")
        if _has_restrict_key(pg_dump, _pg_version(version_line)):
            argv.append(f"--restrict-key={self._restrict_key()}")
        app = f"sitesnap-dump-{secrets.token_hex(6)}"
        scanner = PgPlainScanner()
        future = DumpInfoFuture()
        tool = ToolProcess(argv, env=self._env(self.url, app))

        def finish() -> None:
            code = tool.wait()
            if code != 0:
                raise SourceError(f"pg_dump of {self.url.display()} failed: {tool.error_line()}")
            if not scanner.complete:
                raise SourceError(f"pg_dump of {self.url.display()} ended before its end marker")
            future.set(
                DumpInfo(
                    kind="postgres",
                    format="pg-plain-sql",
                    server_version=scanner.server_version or server_version,
                    tool="pg_dump",
                    tool_version=_short_version(version_line),
                    tables=dict(scanner.tables),
                    database=self.url.database,
                    warnings=[],
                )
            )

        stream = ProcessStream(tool, scanner.feed, finish)
        try:
            yield stream, future  # type: ignore[misc]
        except BaseException:
            tool.close()
            raise
        if not stream.complete:
            tool.close()
            raise SourceError(f"pg_dump of {self.url.display()}: the stream was not read to the end")
        tool.close()

    def _restrict_key(self) -> str:
        if self.restrict_key:
            return self.restrict_key
        seed = f"sitesnap:{self.url.host}:{self.url.port}:{self.url.database}".encode()
        return hashlib.sha256(seed).hexdigest()[:40]

    # -- inspect ----------------------------------------------------------

    def inspect(self, target: str | None = None) -> TargetState:
        """Whether the target database exists, its tables and exact row counts."""
        url = parse_database_url(target, kind="postgres") if target else self.url
        with self._maintenance(url) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (url.database,)).fetchone()
        if not exists:
            return TargetState(kind="postgres", target=url.display(), exists=False)
        with self._connect(url) as conn:
            tables = count_tables(conn)
            size = int(conn.execute("SELECT pg_database_size(current_database())").fetchone()[0])  # type: ignore[index]
        return TargetState(kind="postgres", target=url.display(), exists=True, tables=tables, size=size)

    # -- restore ----------------------------------------------------------

    def restore(
        self,
        stream: BinaryIO,
        info: DumpInfo,
        target: str | None = None,
        progress: ProgressSink = NULL_SINK,
    ) -> RestoreReport:
        """Restore into ``target`` (a URL; default this database); see the module docstring.

        Raises :class:`RestoreError` if the dump does not load or does not
        match ``info``; the target is then untouched.
        """
        started = time.monotonic()
        url = parse_database_url(target, kind="postgres") if target else self.url
        if info.kind != "postgres":
            raise RestoreError(f"a {info.kind} dump cannot be restored into {url.display()}")
        tracker = Tracker("restore", progress)
        temp = _side_name(url.database, "")
        with self._maintenance(url) as admin:
            server_major = admin.info.server_version // 10000
            old = admin.execute(
                "SELECT pg_encoding_to_char(encoding), datcollate, datctype, pg_get_userbyid(datdba) "
                "FROM pg_database WHERE datname = %s",
                (url.database,),
            ).fetchone()
            psql, psql_version = self._client("psql", server_major)
            require_psql_restrict(_pg_version(psql_version), psql_version, client_package(server_major))
            self._create(admin, temp, old)
            try:
                tracker.update(force=True, phase="load", current=url.display())
                read = self._load(psql, url.with_database(temp), stream, tracker)
                tracker.update(force=True, phase="verify")
                with self._connect(url.with_database(temp)) as conn:
                    tables = count_tables(conn)
                if tables != info.tables:
                    raise RestoreError(_mismatch(url.display(), tables, info.tables))
                tracker.update(force=True, phase="swap")
                kept = self._swap(admin, url.database, temp, old)
            except BaseException:
                with contextlib.suppress(psycopg.Error):
                    admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(temp)))
                raise
        tracker.finish(f"restored {url.display()}")
        return RestoreReport(
            kind="postgres",
            target=url.display(),
            created=old is None,
            method="create" if old is None else "swap",
            tables=tables,
            bytes_read=read,
            seconds=time.monotonic() - started,
            kept_old=kept,
        )

    def _create(self, admin: psycopg.Connection[Any], temp: str, old: Any) -> None:
        query = sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(temp))
        if old is not None:
            query = sql.SQL("{} ENCODING {} LC_COLLATE {} LC_CTYPE {}").format(
                query, sql.Literal(old[0]), sql.Literal(old[1]), sql.Literal(old[2])
            )
        try:
            admin.execute(query)
        except psycopg.Error as exc:
            raise RestoreError(f"cannot create database {temp}: {_first_line(exc)}") from exc

    def _load(self, psql: str, url: DatabaseURL, stream: BinaryIO, tracker: Tracker) -> int:
        argv = [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction", "--no-password"]
        tool = ToolProcess(
            argv, env=self._env(url, "sitesnap-restore"), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL
        )
        # The scanner sees the dump as stored; psql sees it restricted (sources/dumpguard.py).
        return feed_dump(tool, stream, PgPlainScanner(), tracker, url.display(), _BLOCK,
                         client_filter=PsqlRestricted())

    def _swap(self, admin: psycopg.Connection[Any], name: str, temp: str, old: Any) -> str:
        """Rename ``temp`` to ``name`` (and ``name`` aside) atomically; return the kept name."""
        ident = sql.Identifier(name)
        if old is None:
            admin.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(sql.Identifier(temp), ident))
            return ""
        aside = _side_name(name, "old_")
        for attempt in range(10):
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            try:
                with admin.transaction():
                    admin.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(ident, sql.Identifier(aside)))
                    admin.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(sql.Identifier(temp), ident))
                break
            except psycopg.errors.ObjectInUse as exc:
                if attempt == 9:
                    raise RestoreError(f"cannot swap in the restored database: {_first_line(exc)}") from exc
                time.sleep(0.2)
        with contextlib.suppress(psycopg.Error):
            admin.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(ident, sql.Identifier(old[3])))
        if self.keep_old:
            return aside
        admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(aside)))
        return ""


def count_tables(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """Exact row count of every table whose data pg_dump dumps, as ``schema.table``."""
    counts: dict[str, int] = {}
    for schema, table in conn.execute(_TABLES_SQL).fetchall():
        query = sql.SQL("SELECT count(*) FROM ONLY {}.{}").format(sql.Identifier(schema), sql.Identifier(table))
        counts[f"{schema}.{table}"] = int(conn.execute(query).fetchone()[0])  # type: ignore[index]
    return counts


def connect_error(url: DatabaseURL, exc: BaseException) -> str:
    """One line saying why connecting to ``url`` failed."""
    text = re.sub(r"^(connection failed: )?connection to server at .*? failed: ", "", _first_line(exc))
    text = re.sub(r"^FATAL:\s+", "", text)
    where = f"PostgreSQL at {url.host}:{url.port}"
    lowered = text.lower()
    if "password authentication failed" in lowered or "no password supplied" in lowered:
        return f"authentication failed for user {url.user!r} on {where}"
    if lowered.startswith("role ") and "does not exist" in lowered:
        return f"authentication failed on {where}: {text}"
    if "does not exist" in lowered and "database" in lowered:
        return f"database {url.database!r} does not exist on {where}"
    return f"cannot connect to {where}: {text}"


def _first_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return lines[0] if lines else type(exc).__name__


def _side_name(database: str, tag: str) -> str:
    """``<db>__sitesnap_<tag><hex>``, kept within PostgreSQL's 63-byte identifier limit."""
    suffix = f"__sitesnap_{tag}{secrets.token_hex(4)}"
    head = database.encode("utf-8")[: 63 - len(suffix)].decode("utf-8", "ignore")
    return head + suffix


def _mismatch(where: str, got: dict[str, int], want: dict[str, int]) -> str:
    diffs = [
        f"{t}: {got.get(t, 'missing')} != {want.get(t, 'missing')}"
        for t in sorted(set(got) | set(want))
        if got.get(t) != want.get(t)
    ]
    return f"restored {where} does not match the snapshot ({'; '.join(diffs[:5])})"


def _pg_version(line: str) -> tuple[int, ...]:
    """``pg_dump (PostgreSQL) 15.20 (Debian ...)`` -> (15, 20)."""
    return version_numbers(line.split("(PostgreSQL)", 1)[-1])


def _short_version(line: str) -> str:
    return ".".join(map(str, _pg_version(line))) or line


# The first releases of each branch with ``--restrict-key`` (August 2025, CVE-2025-8714).
_RESTRICT_KEY_SINCE = {13: (13, 22), 14: (14, 19), 15: (15, 14), 16: (16, 10), 17: (17, 6)}


def _has_restrict_key(program: str, version: tuple[int, ...]) -> bool:
    """Whether ``program`` takes ``--restrict-key``: known from its version, else asked (``--help``)."""
    if version and (version[0] >= 18 or version >= _RESTRICT_KEY_SINCE.get(version[0], (10**6,))):
        return True
    return "--restrict-key" in tool_help(program)
