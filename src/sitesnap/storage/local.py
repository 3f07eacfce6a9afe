"""A backend that keeps objects as files under a root directory.

Writes follow the temp-file-then-rename pattern: the bytes go to a temporary
file in the target's own directory, are fsynced, and the file is then renamed
over the final name (or hard-linked to it for an exclusive create, which fails
atomically if the name exists), and finally the directory is fsynced so the
new name survives a power cut.  A reader therefore sees the whole object or
none of it.  A crash can leave a temporary file behind; its name starts with
:data:`TEMP_PREFIX`, ``list()`` never shows it and :meth:`LocalStorage.remove_temp_files`
deletes old ones.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from sitesnap.errors import (
    ConfigError,
    NoSpace,
    ObjectExists,
    ObjectNotFound,
    PermissionDenied,
    StorageError,
)
from sitesnap.storage.base import Buffer, ObjectInfo, StorageProperties, check_name
from sitesnap.storage.options import reject_unknown

__all__ = ["TEMP_PREFIX", "LocalAppendFile", "LocalStorage", "from_url", "translate_os_error"]

TEMP_PREFIX = ".tmp-"
"""Basename prefix of in-progress writes; reserved, so no object name segment may use it."""

_NO_SPACE = {errno.ENOSPC, errno.EDQUOT}
_DENIED = {errno.EACCES, errno.EPERM, errno.EROFS}
_NO_HARDLINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS, errno.EMLINK}


def translate_os_error(exc: OSError, name: str) -> StorageError:
    """Map an ``OSError`` on object ``name`` to the storage error tree.

    Full disk or quota → :class:`NoSpace`; access denied or read-only file
    system → :class:`PermissionDenied`; missing → :class:`ObjectNotFound`;
    anything else → :class:`StorageError` (not transient: a local disk error
    does not heal by retrying).
    """
    detail = f"{name}: {exc.strerror or exc}"
    if exc.errno in _NO_SPACE:
        return NoSpace(detail)
    if exc.errno in _DENIED:
        return PermissionDenied(detail)
    if exc.errno == errno.ENOENT:
        return ObjectNotFound(name)
    return StorageError(detail)


class LocalStorage:
    """Objects as files under ``root``; thread-safe (every call is independent OS calls)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).absolute()
        self.properties = StorageProperties(kind="local", url=str(self.root))

    # -- helpers ---------------------------------------------------------

    def _path(self, name: str) -> Path:
        check_name(name)
        if any(part.startswith(TEMP_PREFIX) for part in name.split("/")):
            raise ValueError(f"invalid object name {name!r}: {TEMP_PREFIX!r} is reserved")
        return self.root.joinpath(*name.split("/"))

    def _ensure_dir(self, directory: Path, name: str) -> None:
        """Create ``directory`` and missing parents below the root, fsyncing each parent.

        The root itself is never created here: writing into a missing root (an
        unmounted disk, a typo) must fail rather than silently fill the wrong disk.
        """
        if directory.is_dir():
            return
        if directory == self.root or self.root not in directory.parents:
            raise StorageError(f"{self.root} does not exist", hint="Create the repository first ('sitesnap init').")
        self._ensure_dir(directory.parent, name)
        try:
            directory.mkdir()
        except FileExistsError:
            if not directory.is_dir():
                raise StorageError(f"{name}: {directory} is not a directory") from None
            return
        except OSError as exc:
            raise translate_os_error(exc, name) from exc
        _fsync_dir(directory.parent)

    # -- the interface ---------------------------------------------------

    def create(self) -> None:
        """Make the root directory (and parents). Idempotent."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            raise StorageError(f"{self.root} exists and is not a directory") from None
        except OSError as exc:
            raise translate_os_error(exc, str(self.root)) from exc

    def stat(self, name: str) -> ObjectInfo:
        path = self._path(name)
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            raise ObjectNotFound(name) from None
        except OSError as exc:
            raise translate_os_error(exc, name) from exc
        if not path.is_file():
            raise ObjectNotFound(name)
        return ObjectInfo(name, st.st_size)

    def read(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        if offset < 0 or (length is not None and length < 0):
            raise ValueError(f"invalid range offset={offset} length={length}")
        path = self._path(name)
        try:
            fd = os.open(path, os.O_RDONLY)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise ObjectNotFound(name) from None
        except OSError as exc:
            raise translate_os_error(exc, name) from exc
        try:
            if length is None:
                length = max(os.fstat(fd).st_size - offset, 0)
            return _pread_all(fd, length, offset)
        except IsADirectoryError:
            raise ObjectNotFound(name) from None
        except OSError as exc:
            raise translate_os_error(exc, name) from exc
        finally:
            os.close(fd)

    def write(self, name: str, data: Buffer, *, exclusive: bool = False) -> None:
        path = self._path(name)
        if exclusive and path.exists():
            raise ObjectExists(name)
        self._ensure_dir(path.parent, name)
        tmp = path.with_name(f"{TEMP_PREFIX}{path.name}.{secrets.token_hex(6)}")
        try:
            _write_synced(tmp, data)
            if exclusive:
                _link_exclusive(tmp, path, data, name)
            else:
                os.replace(tmp, path)
            _fsync_dir(path.parent)
        except OSError as exc:
            raise translate_os_error(exc, name) from exc
        finally:
            _unlink_quietly(tmp)

    def open_append(self, prefix: str) -> LocalAppendFile:
        """A new temp file below ``prefix`` (a directory name such as ``data/``) filled by offset.

        For packs: the repository writes each blob into the file as it is
        sealed and names the file once it is complete (:meth:`LocalAppendFile.commit`),
        so no pack is ever held in memory.  Not part of the storage interface:
        callers use it when a backend has it, else ``write``.
        """
        directory = self._path(prefix.rstrip("/"))
        self._ensure_dir(directory, prefix)
        tmp = directory / f"{TEMP_PREFIX}pack.{secrets.token_hex(8)}"
        try:
            fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)
        except OSError as exc:
            raise translate_os_error(exc, prefix) from exc
        return LocalAppendFile(self, tmp, fd)

    def delete(self, name: str) -> None:
        path = self._path(name)
        try:
            path.unlink()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return
        except OSError as exc:
            if path.is_dir():  # some systems answer EPERM for unlink(dir)
                return
            raise translate_os_error(exc, name) from exc

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Objects whose name starts with ``prefix``; walks only below the prefix's directory."""
        head, _, _ = prefix.rpartition("/")
        start = self.root.joinpath(*head.split("/")) if head else self.root
        base = f"{head}/" if head else ""
        return self._walk(start, base, prefix)

    def _walk(self, directory: Path, base: str, prefix: str) -> Iterator[ObjectInfo]:
        try:
            entries = list(os.scandir(directory))
        except (FileNotFoundError, NotADirectoryError):
            return
        except OSError as exc:
            raise translate_os_error(exc, base or str(self.root)) from exc
        for entry in entries:
            if entry.name.startswith(TEMP_PREFIX):
                continue
            name = base + entry.name
            if entry.is_dir(follow_symlinks=False):
                if name.startswith(prefix) or prefix.startswith(name + "/"):
                    yield from self._walk(Path(entry.path), name + "/", prefix)
            elif name.startswith(prefix) and entry.is_file():
                try:
                    size = entry.stat().st_size
                except FileNotFoundError:  # deleted while listing
                    continue
                yield ObjectInfo(name, size)

    def close(self) -> None:
        """Nothing to release. Idempotent."""

    # -- maintenance -----------------------------------------------------

    def remove_temp_files(self, older_than: float = 3600.0) -> int:
        """Delete temporary files left by crashed writers; returns how many were removed.

        Only files older than ``older_than`` seconds are touched, so a write in
        progress in another process is not disturbed.
        """
        cutoff = time.time() - older_than
        removed = 0
        for dirpath, _dirs, files in os.walk(self.root):
            for fname in files:
                if not fname.startswith(TEMP_PREFIX):
                    continue
                path = os.path.join(dirpath, fname)
                try:
                    if os.lstat(path).st_mtime <= cutoff:
                        os.unlink(path)
                        removed += 1
                except FileNotFoundError:
                    continue
        return removed


class LocalAppendFile:
    """A temp file written by offset (``pwrite``, from several threads) and then published under its name."""

    def __init__(self, storage: LocalStorage, tmp: Path, fd: int) -> None:
        self._storage = storage
        self.tmp = tmp
        self._fd = fd

    def pwrite(self, data: Buffer, offset: int) -> None:
        view = memoryview(data)
        try:
            while view:
                written = os.pwrite(self._fd, view, offset)
                view = view[written:]
                offset += written
        except OSError as exc:
            raise translate_os_error(exc, str(self.tmp.name)) from exc

    def read(self, offset: int, length: int) -> bytes:
        try:
            return _pread_all(self._fd, length, offset)
        except OSError as exc:
            raise translate_os_error(exc, str(self.tmp.name)) from exc

    def commit(self, name: str) -> None:
        """Make the file durable and visible as ``name`` (replacing nothing that differs: names are hashes)."""
        path = self._storage._path(name)
        try:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = -1
            self._storage._ensure_dir(path.parent, name)
            os.replace(self.tmp, path)
            _fsync_dir(path.parent)
        except OSError as exc:
            self.abort()
            raise translate_os_error(exc, name) from exc

    def abort(self) -> None:
        """Close and remove the temp file (idempotent)."""
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = -1
        _unlink_quietly(self.tmp)


def from_url(url: str, options: Mapping[str, Any]) -> LocalStorage:
    """A plain path (``/srv/backup``, ``backup``) or ``file:///srv/backup``."""
    reject_unknown(options, frozenset(), "local")
    if "://" not in url:
        return LocalStorage(os.path.expanduser(url))
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise ConfigError(f"file URL with a host is not supported: {url}", hint="Use file:///absolute/path.")
    if not parts.path:
        raise ConfigError(f"file URL without a path: {url}")
    return LocalStorage(unquote(parts.path))


def _pread_all(fd: int, length: int, offset: int) -> bytes:
    chunks: list[bytes] = []
    while length > 0:
        chunk = os.pread(fd, min(length, 1 << 24), offset)
        if not chunk:
            break
        chunks.append(chunk)
        offset += len(chunk)
        length -= len(chunk)
    return b"".join(chunks)


def _write_synced(path: Path, data: Buffer) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view[: 1 << 24])
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)


def _link_exclusive(tmp: Path, path: Path, data: Buffer, name: str) -> None:
    """Publish ``tmp`` as ``path`` only if ``path`` does not exist yet.

    ``link()`` fails atomically with EEXIST.  On file systems without hard
    links we fall back to ``O_CREAT | O_EXCL`` on the final name, which is
    still exclusive but not all-or-nothing for concurrent readers.
    """
    try:
        os.link(tmp, path)
        return
    except FileExistsError:
        raise ObjectExists(name) from None
    except OSError as exc:
        if exc.errno not in _NO_HARDLINKS:
            raise
    try:
        _write_synced(path, data)
    except FileExistsError:
        raise ObjectExists(name) from None
    except BaseException:
        _unlink_quietly(path)
        raise


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse fsync on directories; nothing more to do
        pass
    finally:
        os.close(fd)


def _unlink_quietly(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
