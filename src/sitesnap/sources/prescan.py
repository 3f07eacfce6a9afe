"""Listing directories ahead of the archiver, while a backup waits for its repository.

A file backup spends its first tenth of a second or so opening the
repository: the deliberately slow key derivation (on the other core, without
the GIL), the lock, the index, the parent snapshot.  Listing and stat-ing the
source tree needs none of that, so a thread walks it meanwhile, in the same
depth-first order as the archiver, and the archiver takes these listings
instead of scanning the same directories again.

The listings are what :func:`~sitesnap.sources.files.scan_dir` returns, plus
the warnings it gave, so a taken listing is indistinguishable from a fresh
scan a moment earlier.  Memory is bounded by ``limit`` entries; :meth:`stop`
ends the walk between entries (a directory cut short is dropped, and the
archiver scans it itself).
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Sequence
from types import TracebackType

from sitesnap.format.tree import Node
from sitesnap.sources.files import Excluder, ScanWarning, scan_dir

__all__ = ["Listing", "Prescan"]

Listing = tuple[list[tuple[os.DirEntry[bytes], Node]], list[ScanWarning]]

_CHECK_EVERY = 256  # entries between looks at the stop flag inside one directory


class Prescan:
    """A background walk of ``roots`` whose listings :meth:`take` hands out once each."""

    def __init__(self, roots: Sequence[str | bytes], excludes: Sequence[str] = (), *, limit: int = 50_000) -> None:
        self._roots = [os.fsencode(os.path.abspath(r)) for r in roots]
        self._excluder = Excluder(list(excludes))
        self._limit = limit
        self._entries = 0
        self._listings: dict[bytes, Listing] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sitesnap-prescan", daemon=True)

    def start(self) -> Prescan:
        self._thread.start()
        return self

    def stop(self) -> None:
        """End the walk and wait for the thread; listings already made stay available."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def take(self, path: bytes) -> Listing | None:
        """The listing of ``path`` if the walk made one (each is handed out once), else None."""
        return self._listings.pop(path, None)

    def __enter__(self) -> Prescan:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
        self._listings.clear()

    # --- the walk -------------------------------------------------------------------

    def _run(self) -> None:
        try:
            for root in self._roots:
                try:
                    if not stat.S_ISDIR(os.lstat(root).st_mode):
                        continue
                except OSError:
                    continue  # the archiver reports it
                if not self._walk(root, ""):
                    return
        except Exception:  # a walk that fails leaves the rest to the archiver, which reports properly
            return

    def _walk(self, path: bytes, rel: str) -> bool:
        """List ``path`` and its subdirectories depth-first; False once stopped or full."""
        if self._stop.is_set() or self._entries >= self._limit:
            return False
        warnings: list[ScanWarning] = []
        listing: list[tuple[os.DirEntry[bytes], Node]] = []
        for entry, node in scan_dir(path, rel, self._excluder, warnings.append):
            listing.append((entry, node))
            if len(listing) % _CHECK_EVERY == 0 and self._stop.is_set():
                return False
        self._entries += len(listing)
        self._listings[path] = (listing, warnings)
        for entry, node in listing:
            if node.type == "dir":
                child_rel = f"{rel}/{os.fsdecode(entry.name)}" if rel else os.fsdecode(entry.name)
                if not self._walk(entry.path, child_rel):
                    return False
        return True
