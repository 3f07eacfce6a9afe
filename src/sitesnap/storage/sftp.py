"""SFTP storage (asyncssh) for an off-site copy on any server with OpenSSH.

URL: ``sftp://user@host[:port]/absolute/path``; ``sftp://user@host/~/backups``
is relative to the login directory.  asyncssh is asynchronous; the backend
runs its event loop in a private background thread, so the synchronous
interface can be called from many threads at once and all of them share one
SSH connection (SFTP pipelines their requests).  A dropped connection is
reported as a transient error and re-established on the next call.

Writes go to a temporary file in the target's directory, are fsynced
(``fsync@openssh.com``) and renamed: ``posix-rename@openssh.com`` to replace,
plain SFTP ``rename`` (which refuses an existing target) for an exclusive
create.  Host keys are always checked against ``known_hosts`` (the user's
``~/.ssh/known_hosts`` unless a file is given).
"""

from __future__ import annotations

import asyncio
import contextlib
import posixpath
import secrets
import threading
from collections.abc import Coroutine, Iterator, Mapping
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, TypeVar

import asyncssh

from sitesnap.errors import (
    NoSpace,
    ObjectExists,
    ObjectNotFound,
    PermissionDenied,
    StorageError,
)
from sitesnap.storage.base import Buffer, ObjectInfo, StorageProperties, check_name
from sitesnap.storage.local import TEMP_PREFIX
from sitesnap.storage.sftpoptions import OPTIONS, SFTPOptions, parse_options

__all__ = ["OPTIONS", "SFTPOptions", "SFTPStorage", "from_url", "parse_options"]

T = TypeVar("T")

def translate(exc: BaseException, name: str) -> StorageError:
    """Map asyncssh and connection errors to the storage error tree."""
    if isinstance(exc, asyncssh.SFTPNoSuchFile | FileNotFoundError):
        return ObjectNotFound(name)
    if isinstance(exc, asyncssh.SFTPPermissionDenied | asyncssh.PermissionDenied):
        return PermissionDenied(f"{name}: {exc}")
    if isinstance(exc, asyncssh.SFTPNoSpaceOnFilesystem | asyncssh.SFTPQuotaExceeded):
        return NoSpace(f"{name}: {exc}")
    if isinstance(exc, asyncssh.HostKeyNotVerifiable):
        return StorageError(
            f"the server's host key is not trusted: {exc}",
            hint="Add it to known_hosts (ssh-keyscan) or pass a known_hosts file.",
        )
    if isinstance(exc, asyncssh.SFTPError):
        return StorageError(f"{name}: {exc.reason or exc}")
    # Connection lost, reset, refused, timeouts: worth retrying.
    return StorageError(f"{name}: {type(exc).__name__}: {exc}", transient=True)


class SFTPStorage:
    """Objects as files under a directory on an SFTP server.  Thread-safe."""

    def __init__(self, opts: SFTPOptions) -> None:
        self.opts = opts
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="sitesnap-sftp", daemon=True)
        self._thread.start()
        self._conn: asyncssh.SSHClientConnection | None = None
        self._sftp: asyncssh.SFTPClient | None = None
        self._connecting: asyncio.Lock | None = None
        self._dirs: set[str] = set()
        self._closed = False
        user = f"{opts.username}@" if opts.username else ""
        self.properties = StorageProperties(
            kind="sftp", url=f"sftp://{user}{opts.host}:{opts.port}/{opts.path.lstrip('/')}"
        )

    # -- plumbing --------------------------------------------------------

    def _run(self, coro: Coroutine[Any, Any, T], name: str) -> T:
        if self._closed:
            coro.close()
            raise StorageError(f"{name}: the SFTP storage is closed")
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(self.opts.timeout)
        except FutureTimeout:
            future.cancel()
            self._loop.call_soon_threadsafe(self._drop)
            raise StorageError(f"{name}: timed out", transient=True) from None
        except (StorageError, ValueError):
            raise
        except (asyncssh.SFTPError, asyncssh.PermissionDenied, asyncssh.HostKeyNotVerifiable) as exc:
            raise translate(exc, name) from exc
        except (TimeoutError, OSError, asyncssh.Error, EOFError) as exc:
            self._loop.call_soon_threadsafe(self._drop)
            raise translate(exc, name) from exc

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.abort()
        self._conn = self._sftp = None

    async def _client(self) -> asyncssh.SFTPClient:
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._sftp is None or self._conn is None or self._conn.is_closed():
                self._drop()
                o = self.opts
                kwargs: dict[str, Any] = {
                    "port": o.port,
                    "username": o.username,
                    "password": o.password,
                    "connect_timeout": o.connect_timeout,
                    "known_hosts": o.known_hosts if o.known_hosts else (),
                }
                if o.key_file:
                    kwargs["client_keys"] = [o.key_file]
                    kwargs["passphrase"] = o.key_passphrase
                self._conn = await asyncssh.connect(o.host, **kwargs)
                self._sftp = await self._conn.start_sftp_client()
            return self._sftp

    def _path(self, name: str) -> str:
        check_name(name)
        if any(part.startswith(TEMP_PREFIX) for part in name.split("/")):
            raise ValueError(f"invalid object name {name!r}: {TEMP_PREFIX!r} is reserved")
        return posixpath.join(self.opts.path, name)

    # -- the interface ---------------------------------------------------

    def create(self) -> None:
        async def go() -> None:
            sftp = await self._client()
            await sftp.makedirs(self.opts.path, exist_ok=True)

        self._run(go(), self.properties.url)

    def stat(self, name: str) -> ObjectInfo:
        path = self._path(name)

        async def go() -> ObjectInfo:
            attrs = await (await self._client()).stat(path)
            if attrs.type != asyncssh.FILEXFER_TYPE_REGULAR:
                raise ObjectNotFound(name)
            return ObjectInfo(name, int(attrs.size or 0))

        return self._run(go(), name)

    def read(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        if offset < 0 or (length is not None and length < 0):
            raise ValueError(f"invalid range offset={offset} length={length}")
        path = self._path(name)

        async def go() -> bytes:
            sftp = await self._client()
            try:
                async with sftp.open(path, "rb") as f:
                    data = await f.read(-1 if length is None else length, offset)
            except asyncssh.SFTPFailure:
                if await sftp.isdir(path):
                    raise ObjectNotFound(name) from None
                raise
            assert isinstance(data, bytes)  # binary mode
            return data

        return self._run(go(), name)

    def write(self, name: str, data: Buffer, *, exclusive: bool = False) -> None:
        path = self._path(name)
        directory, base = posixpath.split(path)
        tmp = posixpath.join(directory, f"{TEMP_PREFIX}{base}.{secrets.token_hex(6)}")

        async def go() -> None:
            sftp = await self._client()
            if directory not in self._dirs:
                await _makedirs(sftp, directory)
                self._dirs.add(directory)
            try:
                async with sftp.open(tmp, "wb") as f:
                    await f.write(data if isinstance(data, bytes) else bytes(data), 0)
                    await _fsync(f)
                if exclusive:
                    await self._rename_exclusive(sftp, tmp, path, name)
                else:
                    await sftp.posix_rename(tmp, path)
            except BaseException:
                await _remove_quietly(sftp, tmp)
                raise

        self._run(go(), name)

    async def _rename_exclusive(self, sftp: asyncssh.SFTPClient, tmp: str, path: str, name: str) -> None:
        try:
            await sftp.rename(tmp, path)  # SFTP v3 rename never replaces an existing file
        except asyncssh.SFTPFailure:
            if await sftp.exists(path):
                raise ObjectExists(name) from None
            raise

    def delete(self, name: str) -> None:
        path = self._path(name)

        async def go() -> None:
            sftp = await self._client()
            try:
                await sftp.remove(path)
            except asyncssh.SFTPNoSuchFile:
                return
            except asyncssh.SFTPFailure:
                if not await sftp.isdir(path):
                    raise

        self._run(go(), name)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        head = prefix.rpartition("/")[0]
        base = f"{head}/" if head else ""
        start = posixpath.join(self.opts.path, head) if head else self.opts.path

        async def go() -> list[ObjectInfo]:
            sftp = await self._client()
            found: list[ObjectInfo] = []
            await _walk(sftp, start, base, prefix, found)
            return found

        return iter(self._run(go(), prefix or self.properties.url))

    def close(self) -> None:
        """Close the connection and stop the event loop thread. Idempotent."""
        if self._closed:
            return

        async def shutdown() -> None:
            if self._conn is not None:
                self._conn.close()
                await self._conn.wait_closed()
            self._conn = self._sftp = None

        with contextlib.suppress(Exception):  # a broken connection has nothing left to close
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._closed = True
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


async def _walk(sftp: asyncssh.SFTPClient, directory: str, base: str, prefix: str, out: list[ObjectInfo]) -> None:
    try:
        entries = await sftp.readdir(directory)
    except asyncssh.SFTPNoSuchFile:
        return
    for entry in entries:
        fname = str(entry.filename)
        if fname in (".", "..") or fname.startswith(TEMP_PREFIX):
            continue
        name = base + fname
        kind = entry.attrs.type
        if kind == asyncssh.FILEXFER_TYPE_DIRECTORY:
            if name.startswith(prefix) or prefix.startswith(name + "/"):
                await _walk(sftp, posixpath.join(directory, fname), name + "/", prefix, out)
        elif kind == asyncssh.FILEXFER_TYPE_REGULAR and name.startswith(prefix):
            out.append(ObjectInfo(name, int(entry.attrs.size or 0)))


async def _makedirs(sftp: asyncssh.SFTPClient, directory: str) -> None:
    """``makedirs`` that tolerates another writer creating the same directory meanwhile."""
    try:
        await sftp.makedirs(directory, exist_ok=True)
    except asyncssh.SFTPFailure:
        if not await sftp.isdir(directory):
            raise


async def _fsync(f: asyncssh.SFTPClientFile) -> None:
    with contextlib.suppress(asyncssh.SFTPOpUnsupported):  # servers without fsync@openssh.com
        await f.fsync()


async def _remove_quietly(sftp: asyncssh.SFTPClient, path: str) -> None:
    with contextlib.suppress(asyncssh.SFTPError, OSError, asyncssh.Error):
        await sftp.remove(path)


def from_url(url: str, options: Mapping[str, Any]) -> SFTPStorage:
    """``sftp://user@host[:port]/path`` with the options of :class:`SFTPOptions`."""
    return SFTPStorage(parse_options(url, options))
