"""The FUSE operations of the read-only snapshot mount (pyfuse3, libfuse 3).

Every request is answered from the :class:`~sitesnap.engine.mounttree.InodeTable`
(names, sizes, modes, times, symlinks) or, for file contents, from the
chunks of the file through a :class:`~sitesnap.engine.mountfile.BlobCache`.
Chunk loads run in worker threads so a slow storage (S3, SFTP) does not stall
listings while a large file is read.  Anything that would change the file
system is refused with ``EROFS``; a chunk that fails verification answers
``EIO`` (and is reported once on the warning sink), never wrong bytes.

Imported only when mounting, so sitesnap works without the binding.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Sequence
from typing import TypeVar

import pyfuse3
import trio

from sitesnap.engine.mountfile import BlobCache, ContentMap, ContentSource
from sitesnap.engine.mounttree import Entry, InodeTable
from sitesnap.errors import SitesnapError

__all__ = ["SnapshotFS"]

T = TypeVar("T")

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
_TIMEOUT = 300.0  # seconds the kernel may cache names and attributes: nothing here changes


def _fail(code: int) -> pyfuse3.FUSEError:
    return pyfuse3.FUSEError(code)


class SnapshotFS(pyfuse3.Operations):
    """Read-only operations over one repository's snapshots."""

    def __init__(self, table: InodeTable, source: ContentSource, cache: BlobCache,
                 warn: Callable[[str], None]) -> None:
        super().__init__()
        self._table = table
        self._source = source
        self._cache = cache
        self._warn = warn
        self._maps: dict[int, ContentMap] = {}
        self._open_count: dict[int, int] = {}
        self._reported: set[int] = set()
        self._sorted: dict[int, list[bytes]] = {}
        self._limiter = trio.CapacityLimiter(4)

    # --- names and attributes --------------------------------------------------

    def _entry(self, inode: int) -> Entry:
        entry = self._table.get(inode)
        if entry is None:
            raise _fail(errno.ENOENT)
        return entry

    def _attributes(self, entry: Entry) -> pyfuse3.EntryAttributes:
        attr = pyfuse3.EntryAttributes()
        attr.st_ino = entry.inode
        attr.st_mode = entry.st_mode
        attr.st_nlink = 2 if entry.kind == "dir" else 1
        attr.st_uid = entry.uid
        attr.st_gid = entry.gid
        attr.st_size = entry.size
        attr.st_blksize = 512
        attr.st_blocks = (entry.size + 511) // 512
        attr.st_atime_ns = attr.st_mtime_ns = attr.st_ctime_ns = entry.mtime_ns
        attr.attr_timeout = attr.entry_timeout = _TIMEOUT
        return attr

    async def getattr(self, inode: int, ctx: pyfuse3.RequestContext | None = None) -> pyfuse3.EntryAttributes:
        return self._attributes(self._entry(inode))

    async def lookup(self, parent_inode: int, name: bytes,
                     ctx: pyfuse3.RequestContext | None = None) -> pyfuse3.EntryAttributes:
        entry = self._guarded(lambda: self._table.lookup(parent_inode, name), parent_inode)
        if entry is None:
            raise _fail(errno.ENOENT)
        return self._attributes(entry)

    async def readlink(self, inode: int, ctx: pyfuse3.RequestContext) -> bytes:
        entry = self._entry(inode)
        if entry.kind != "symlink":
            raise _fail(errno.EINVAL)
        return entry.target

    async def forget(self, inode_list: Sequence[tuple[int, int]]) -> None:
        """Inodes stay valid for the whole mount: nothing to drop."""

    async def statfs(self, ctx: pyfuse3.RequestContext) -> pyfuse3.StatvfsData:
        data = pyfuse3.StatvfsData()
        data.f_bsize = data.f_frsize = 512
        data.f_files = len(self._table)
        data.f_namemax = 255
        return data

    # --- directories -----------------------------------------------------------

    async def opendir(self, inode: int, ctx: pyfuse3.RequestContext) -> int:
        entry = self._entry(inode)
        if entry.kind != "dir":
            raise _fail(errno.ENOTDIR)
        return inode

    async def readdir(self, fh: int, start_id: int, token: pyfuse3.ReaddirToken) -> None:
        entry = self._entry(fh)
        children = self._guarded(lambda: self._table.children(entry), fh)
        names = self._sorted.get(fh)
        if names is None:  # directories never change: sort once, not on every readdir call of a large one
            names = self._sorted[fh] = sorted(children)
        for position in range(start_id, len(names)):
            child = self._entry(children[names[position]])
            if not pyfuse3.readdir_reply(token, names[position], self._attributes(child), position + 1):
                return

    async def releasedir(self, fh: int) -> None:
        """Directory handles hold nothing."""

    # --- files -----------------------------------------------------------------

    async def open(self, inode: int, flags: int, ctx: pyfuse3.RequestContext) -> pyfuse3.FileInfo:
        if flags & _WRITE_FLAGS:
            raise _fail(errno.EROFS)
        entry = self._entry(inode)
        if entry.kind != "file":
            raise _fail(errno.EISDIR if entry.kind == "dir" else errno.EINVAL)
        if inode not in self._maps:
            node = entry.node
            assert node is not None
            self._maps[inode] = self._guarded(
                lambda: ContentMap(self._source, node.content, node.size, node.display_name), inode)
        self._open_count[inode] = self._open_count.get(inode, 0) + 1
        return pyfuse3.FileInfo(fh=inode, keep_cache=True)

    async def read(self, fh: int, off: int, size: int) -> bytes:
        content = self._maps[fh]
        try:
            return await trio.to_thread.run_sync(content.read, self._cache, off, size, limiter=self._limiter)
        except SitesnapError as exc:
            self._report(fh, exc)
            raise _fail(errno.EIO) from None

    async def release(self, fh: int) -> None:
        left = self._open_count.get(fh, 1) - 1
        if left <= 0:
            self._open_count.pop(fh, None)
            self._maps.pop(fh, None)
        else:
            self._open_count[fh] = left

    async def access(self, inode: int, mode: int, ctx: pyfuse3.RequestContext) -> bool:
        self._entry(inode)
        return not mode & os.W_OK

    # --- errors ----------------------------------------------------------------

    def _guarded(self, call: Callable[[], T], inode: int) -> T:
        """``call()``, with damaged repository data answered as EIO instead of an exception in the loop."""
        try:
            return call()
        except SitesnapError as exc:
            self._report(inode, exc)
            raise _fail(errno.EIO) from None

    def _report(self, inode: int, exc: SitesnapError) -> None:
        if inode not in self._reported:
            self._reported.add(inode)
            entry = self._table.get(inode)
            name = entry.node.display_name if entry is not None and entry.node is not None else f"inode {inode}"
            self._warn(f"{name}: {exc.message}")
