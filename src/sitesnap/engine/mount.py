"""Mount a repository read-only with FUSE: browse and copy out any file of any snapshot.

``mount_repository`` checks what a user can get wrong before touching the
kernel (the mountpoint is missing or already mounted, ``/dev/fuse`` is
absent, the pyfuse3 binding is not installed) and says so in one line, then
serves the file system until SIGINT or SIGTERM, and always unmounts on the
way out.  While mounted it holds a shared repository lock, so a prune (which
needs an exclusive lock) cannot delete packs that open files still read.

The layout is described in :mod:`sitesnap.engine.mounttree`; reads in
:mod:`sitesnap.engine.mountfile`; the FUSE operations in
:mod:`sitesnap.engine.fuseops`.
"""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from sitesnap.engine.mountfile import DEFAULT_CACHE_BYTES, BlobCache
from sitesnap.engine.mounttree import InodeTable
from sitesnap.errors import MissingTool, UsageError

if TYPE_CHECKING:
    import pyfuse3

    from sitesnap.repository.repository import Repository

__all__ = ["FUSE_DEVICE", "check_mountpoint", "mount_repository"]

FUSE_DEVICE = "/dev/fuse"
_BINDING_HINT = "Install it with: pip install 'sitesnap[mount]' (building it needs libfuse3-dev, fuse3 and pkg-config)."


def check_mountpoint(mountpoint: str) -> None:
    """UsageError or MissingTool, with a hint, for every reason the mount would fail up front.

    Cheap and password-free, so the command runs it before opening the repository.
    """
    if not os.path.isdir(mountpoint):
        raise UsageError(f"mountpoint {mountpoint} is not an existing directory",
                         hint=f"Create it first: mkdir -p {mountpoint}")
    if os.path.ismount(mountpoint):
        raise UsageError(f"mountpoint {mountpoint} is busy: something is already mounted there",
                         hint=f"Unmount it first (fusermount3 -u {mountpoint}) or choose another directory.")
    if not os.path.exists(FUSE_DEVICE):
        raise MissingTool(f"FUSE is not available ({FUSE_DEVICE} is missing)",
                          hint="Load the fuse kernel module, or give the container the /dev/fuse device.")
    try:
        import pyfuse3  # noqa: F401 - only whether the binding loads
    except ImportError:
        raise MissingTool("the pyfuse3 binding (libfuse 3) is not installed", hint=_BINDING_HINT) from None


def mount_repository(
    repo: Repository,
    mountpoint: str,
    *,
    cache_bytes: int = DEFAULT_CACHE_BYTES,
    warn: Callable[[str], None] = lambda _msg: None,
    on_ready: Callable[[], None] = lambda: None,
) -> None:
    """Serve ``repo`` at ``mountpoint`` until SIGINT/SIGTERM or an external unmount; then unmount.

    Raises UsageError / MissingTool before mounting when the mount cannot work.
    """
    check_mountpoint(mountpoint)
    import pyfuse3
    import trio

    from sitesnap.engine.fuseops import SnapshotFS

    repo.require_read("mounting")  # a write-only key could list nothing and read nothing
    with repo.lock(operation="mount"):
        repo.load_index()
        snapshots = repo.load_snapshots(on_error=lambda sid, exc: warn(f"snapshot {sid[:8]}: {exc}"))
        ops = SnapshotFS(InodeTable(repo, snapshots), repo, BlobCache(repo, cache_bytes), warn)
        options = set(pyfuse3.default_options) - {"default_permissions"}
        options |= {"fsname=sitesnap", "subtype=sitesnap", "ro"}
        trio.run(_serve, ops, mountpoint, frozenset(options), on_ready)


async def _serve(ops: pyfuse3.Operations, mountpoint: str, options: frozenset[str],
                 on_ready: Callable[[], None]) -> None:
    """Mount, serve until a signal or an external unmount, unmount.

    The signal receiver is in place before the kernel mount exists, so a
    SIGTERM at any moment leads through the unmount, never to a dead mount.
    """
    import pyfuse3
    import trio

    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        try:
            pyfuse3.init(ops, mountpoint, set(options))
        except RuntimeError as exc:
            raise UsageError(f"cannot mount at {mountpoint}: {exc}",
                             hint="Check that the directory is not in use and that you may mount FUSE there.") from None
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_terminate_on_signal, signals)
                on_ready()
                await pyfuse3.main()
                nursery.cancel_scope.cancel()
        finally:
            pyfuse3.close(unmount=True)


async def _terminate_on_signal(signals: AsyncIterator[int]) -> None:
    """Ends the FUSE loop on the first SIGINT or SIGTERM, so the caller unmounts cleanly."""
    import pyfuse3

    async for _signum in signals:
        pyfuse3.terminate()
        return
