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
import hashlib
import re
import secrets
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from sitesnap.errors import RestoreError, SourceError
from sitesnap.progress import NULL_SINK, ProgressSink, Tracker
from sitesnap.sources.db import DumpInfo, DumpInfoFuture, RestoreReport, TargetState
from sitesnap.sources.dbtool import ProcessStream, ToolProcess, feed_dump
from sitesnap.sources.dburl import DatabaseURL, parse_database_url, public_url, url_text, url_with_secret
from sitesnap.sources.dumpguard import PsqlRestricted, require_psql_restrict
from sitesnap.sources.dumprows import DumpRows, PgDump, RowReader
from sitesnap.sources.dumpscan import PgPlainScanner
from sitesnap.sources.kind import SourceSpec, StreamSource, spec_field
from sitesnap.sources.pgclient import (
    client_package,
    find_client,
    has_restrict_key,
    pg_version,
    pick_client,
    short_version,
)
from sitesnap.sources.privileges import denied, dump_failure, privilege_error
from sitesnap.sources.swap import DatabaseRestore, SwapResult

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


class PostgresSource(StreamSource):
    """A PostgreSQL database named by a ``postgresql://`` URL.  One operation at a time."""

    kind = "postgres"
    type: ClassVar[str] = "postgres"
    extension: ClassVar[str] = "pg.sql"

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
        pg_dump, version_line = find_client("pg_dump", server_major, self.bin_dirs)
        argv = [pg_dump, "--format=plain", "--no-password"]
        if self.no_owner:
            argv.append("--no-owner")
        if self.no_privileges:
            argv.append("--no-privileges")
        if has_restrict_key(pg_dump, pg_version(version_line)):
            argv.append(f"--restrict-key={self._restrict_key()}")
        app = f"sitesnap-dump-{secrets.token_hex(6)}"
        scanner = PgPlainScanner()
        future = DumpInfoFuture()
        tool = ToolProcess(argv, env=self._env(self.url, app))

        def finish() -> None:
            code = tool.wait()
            if code != 0:
                raise dump_failure("postgres", f"pg_dump of {self.url.display()}", tool)
            if not scanner.complete:
                raise SourceError(f"pg_dump of {self.url.display()} ended before its end marker")
            future.set(
                DumpInfo(
                    kind="postgres",
                    format="pg-plain-sql",
                    server_version=scanner.server_version or server_version,
                    tool="pg_dump",
                    tool_version=short_version(version_line),
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
        url = parse_database_url(target, kind="postgres") if target else self.url
        return _PgRestore(self, url).run(stream, info, progress)

    # -- the rest of the source interface ---------------------------------------

    @classmethod
    def from_config(cls, spec: SourceSpec) -> PostgresSource:
        url = url_with_secret(str(spec_field(spec, "url")), getattr(spec, "password", None),
                              what=f"sources.{spec.name}.password")
        return cls(url, name=spec.name)

    def origin(self) -> str:
        return self.url.display()

    def public_target(self, target: str) -> str:
        return public_url(target, self.type)

    def scratch_target(self, scratch: Path, rename: Callable[[str], str]) -> str:
        return url_text(self.url.with_database(rename(self.url.database)))

    @classmethod
    def row_reader(cls, open_copy: Callable[[], BinaryIO], workdir: Path) -> RowReader:
        """The stored plain-SQL dump, streamed once per pass (COPY blocks)."""
        return DumpRows(PgDump(), open_copy)

    def drop(self, target: str) -> None:
        """``DROP DATABASE IF EXISTS`` ``target``, ending its sessions first."""
        url = parse_database_url(target, kind="postgres")
        with self._maintenance(url) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(url.database)))


class _PgRestore(DatabaseRestore):
    """Load into ``<db>__sitesnap_<hex>`` with ``psql``, then rename it over the target."""

    kind = "postgres"
    admin: psycopg.Connection[Any]

    def __init__(self, source: PostgresSource, url: DatabaseURL) -> None:
        super().__init__(url.display())
        self.source, self.url = source, url
        self.temp = _side_name(url.database, "")
        self.psql = ""
        self.old: Any = None

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        with self.source._maintenance(self.url) as admin:
            self.admin = admin
            server_major = admin.info.server_version // 10000
            self.old = admin.execute(
                "SELECT pg_encoding_to_char(encoding), datcollate, datctype, pg_get_userbyid(datdba) "
                "FROM pg_database WHERE datname = %s",
                (self.url.database,),
            ).fetchone()
            self.psql, psql_version = find_client("psql", server_major, self.source.bin_dirs)
            require_psql_restrict(pg_version(psql_version), psql_version, client_package(server_major))
            yield

    def create_temp(self) -> None:
        query = sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(self.temp))
        if self.old is not None:
            query = sql.SQL("{} ENCODING {} LC_COLLATE {} LC_CTYPE {}").format(
                query, sql.Literal(self.old[0]), sql.Literal(self.old[1]), sql.Literal(self.old[2])
            )
        try:
            self.admin.execute(query)
        except psycopg.Error as exc:
            if denied(str(exc)):  # SQLSTATE 42501: no CREATEDB
                raise privilege_error("postgres", "restore", f"CREATE DATABASE {self.temp}", _first_line(exc)) from exc
            raise RestoreError(f"cannot create database {self.temp}: {_first_line(exc)}") from exc

    def load(self, stream: BinaryIO, tracker: Tracker) -> int:
        url = self.url.with_database(self.temp)
        argv = [self.psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction", "--no-password"]
        tool = ToolProcess(
            argv, env=self.source._env(url, "sitesnap-restore"), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL
        )
        # The scanner sees the dump as stored; psql sees it restricted (sources/dumpguard.py).
        return feed_dump(tool, stream, PgPlainScanner(), tracker, url.display(), _BLOCK,
                         client_filter=PsqlRestricted())

    def count_temp(self) -> dict[str, int]:
        with self.source._connect(self.url.with_database(self.temp)) as conn:
            return count_tables(conn)

    def swap(self, tables: dict[str, int]) -> SwapResult:
        """Rename the temp database to the target (and the target aside) atomically."""
        admin, ident = self.admin, sql.Identifier(self.url.database)
        if self.old is None:
            admin.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(sql.Identifier(self.temp), ident))
            return SwapResult("create", created=True)
        aside = _side_name(self.url.database, "old_")
        for attempt in range(10):
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (self.url.database,),
            )
            try:
                with admin.transaction():
                    admin.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(ident, sql.Identifier(aside)))
                    admin.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(sql.Identifier(self.temp), ident))
                break
            except psycopg.errors.ObjectInUse as exc:
                if attempt == 9:
                    raise RestoreError(f"cannot swap in the restored database: {_first_line(exc)}") from exc
                time.sleep(0.2)
        with contextlib.suppress(psycopg.Error):
            admin.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(ident, sql.Identifier(self.old[3])))
        if self.source.keep_old:
            return SwapResult("swap", created=False, kept_old=aside)
        admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(aside)))
        return SwapResult("swap", created=False)

    def drop_temp(self) -> None:
        with contextlib.suppress(psycopg.Error):
            self.admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.temp)))


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
