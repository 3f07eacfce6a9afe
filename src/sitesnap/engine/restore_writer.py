"""Writes the restorer's files pack by pack: each needed stretch of a pack read once.

The walker hands over files; they are collected in batches (at most
``batch_files`` files, ``batch_blobs`` blobs, ``batch_open`` files that span
several blobs).  A batch is planned whole — which blobs of which packs go to
which files at which offsets — then every pack's needed blobs are read in a
few large ranges (:mod:`sitesnap.repository.packread`), several ranges in
flight on the pool, and each decoded, verified blob is written to every file
and offset that needs it.  Files sharing a blob cost one read.  Memory is
bounded by the batch limits and the ranges in flight, never by the tree.

No file ever holds partial content under its final name: each is written
under a temporary name (``.sitesnap-tmp-<pid>-<n>-<name>``, created with
``O_EXCL|O_NOFOLLOW``) and renamed over the final name only after its last
blob is written and its metadata set.  A file of one blob is created,
written, finished and renamed by one task with no bookkeeping; a file of
several blobs keeps its descriptor open until the task that writes its last
blob renames it.  Any blob that cannot be read or verified, or a size that
disagrees with the snapshot, removes the temporary file and records an error.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from sitesnap.errors import IntegrityError, SitesnapError
from sitesnap.format.blob import DATA
from sitesnap.format.tree import Node
from sitesnap.progress import Tracker
from sitesnap.repository.packread import NeededBlob, PackRange, PackSource, plan_ranges, read_limits, read_range

from .restore_fs import FILE_FLAGS, Dir, process_umask, remove, set_file_meta, tmp_name, unlink_quiet

__all__ = ["BlobSource", "FileJob", "FileWriter", "WriteCounts"]


class BlobSource(PackSource, Protocol):
    """What the writer needs from a repository: index lookups plus pack reading."""

    def blob_location(self, blob_type: int, blob_id: bytes) -> tuple[bytes, int, int, int] | None: ...

    def require_read(self, what: str) -> None: ...


@dataclass(eq=False, slots=True)
class FileJob:
    """One file to restore into ``d``; ``remaining`` blob writes until it can be renamed."""

    d: Dir
    node: Node
    rel: str
    tmp: bytes = b""
    fd: int = -1
    remaining: int = 0
    error: str | None = None


@dataclass
class WriteCounts:
    """Totals the writer adds to, under the restorer's lock."""

    files: int = 0
    bytes: int = 0
    errors: list[str] | None = None


_Targets = list[tuple[FileJob, int]]


class FileWriter:
    """Collects files, plans each batch by pack, and writes them on ``pool``.

    Not thread-safe on the calling side (one walker calls ``add``/``wait``);
    the tasks it runs share state under one lock.
    """

    def __init__(
        self,
        source: BlobSource,
        pool: ThreadPoolExecutor,
        tracker: Tracker,
        counts: WriteCounts,
        lock: threading.Lock,
        *,
        restore_owner: bool,
        read_budget: int | None = None,
        batch_files: int = 1024,
        batch_blobs: int = 8192,
        batch_open: int = 128,
    ) -> None:
        self._source = source
        self._pool = pool
        self._tracker = tracker
        self._counts = counts
        self._lock = lock
        self._owner = restore_owner
        self._umask = process_umask()
        self._read = read_limits(source.storage.properties.kind)
        self._budget = _ByteBudget(read_budget or self._read.in_flight)
        self._limits = (batch_files, batch_blobs, batch_open)
        self._jobs: list[FileJob] = []
        self._blobs = 0
        self._open = 0
        self._futures: list[Future[None]] = []

    def add(self, d: Dir, node: Node, rel: str) -> None:
        """Queue one file; ``d`` stays open until the file is written."""
        d.acquire()
        self._jobs.append(FileJob(d, node, rel))
        self._blobs += len(node.content)
        self._open += len(node.content) > 1
        files, blobs, open_files = self._limits
        if len(self._jobs) >= files or self._blobs >= blobs or self._open >= open_files:
            self.flush()

    def flush(self) -> None:
        """Plan the queued batch and hand its ranges to the pool."""
        jobs, self._jobs, self._blobs, self._open = self._jobs, [], 0, 0
        if not jobs:
            return
        self._source.require_read("reading data blobs")
        needs: dict[bytes, list[NeededBlob]] = {}
        targets: dict[bytes, _Targets] = {}
        for job in jobs:
            self._plan_file(job, needs, targets)
        for pack_id, blobs in needs.items():
            for rng in plan_ranges(pack_id, blobs, max_span=self._read.max_span):
                self._budget.acquire(rng.end - rng.start)
                work = [targets[b.blob_id] for b in rng.blobs]
                self._futures.append(self._pool.submit(self._run_range, rng, work))

    def wait(self) -> None:
        """Flush, then wait for every write; re-raises an unexpected failure of a task."""
        self.flush()
        futures, self._futures = self._futures, []
        for fut in futures:
            fut.result()

    # --- planning -------------------------------------------------------------------

    def _plan_file(self, job: FileJob, needs: dict[bytes, list[NeededBlob]], targets: dict[bytes, _Targets]) -> None:
        node = job.node
        locations = [self._source.blob_location(DATA, blob_id) for blob_id in node.content]
        missing = next((b for b, loc in zip(node.content, locations, strict=True) if loc is None), None)
        if missing is not None:
            self._fail_unstarted(job, f"data blob {missing.hex()[:16]} is not in the index")
            return
        size = sum(loc[3] for loc in locations if loc is not None)
        if size != node.size:
            self._fail_unstarted(job, f"restored {size} bytes, snapshot says {node.size}")
            return
        if not node.content:
            self._write_whole(job, b"")
            return
        job.remaining = len(node.content)
        offset = 0
        for blob_id, loc in zip(node.content, locations, strict=True):
            assert loc is not None
            pack_id, pack_offset, length, plain = loc
            file_targets = targets.get(blob_id)
            if file_targets is None:
                file_targets = targets[blob_id] = []
                needs.setdefault(pack_id, []).append(NeededBlob(blob_id, pack_offset, length, plain))
            file_targets.append((job, offset))
            offset += plain

    def _fail_unstarted(self, job: FileJob, message: str) -> None:
        self._error(f"{job.rel}: {message}")
        job.d.release()

    # --- writing (pool threads) -------------------------------------------------------

    def _run_range(self, rng: PackRange, work: list[_Targets]) -> None:
        done = 0
        written = files = 0
        try:
            for _blob, data in read_range(self._source, rng, DATA):
                file_targets = work[done]
                done += 1
                if isinstance(data, IntegrityError):
                    for job, _ in file_targets:
                        self._blob_done(job, data.message)
                    continue
                for job, offset in file_targets:
                    files += self._write(job, data, offset)
                written += len(data) * len(file_targets)
        except SitesnapError as exc:
            for file_targets in work[done:]:
                for job, _ in file_targets:
                    self._blob_done(job, exc.message)
        finally:
            self._budget.release(rng.end - rng.start)
            self._tracker.update(bytes_done=written, files_done=files)

    def _write(self, job: FileJob, data: bytes, offset: int) -> int:
        """Write one blob into ``job``; returns 1 when that finished the file."""
        if len(job.node.content) == 1:
            return self._write_whole(job, data)
        with self._lock:
            if job.fd < 0 and job.error is None:
                job.tmp = tmp_name(job.node.name)
                try:
                    job.fd = os.open(job.tmp, FILE_FLAGS, 0o600, dir_fd=job.d.fd)
                except OSError as exc:
                    job.error = exc.strerror or str(exc)
            fd, error = job.fd, job.error
        if error is None:
            try:
                _pwrite_all(fd, data, offset)
            except OSError as exc:
                error = exc.strerror or str(exc)
        return self._blob_done(job, error)

    def _blob_done(self, job: FileJob, error: str | None) -> int:
        """Count one blob of ``job`` as handled; the last one finishes the file."""
        if len(job.node.content) == 1:
            self._fail_unstarted(job, error or "not written")
            return 0
        with self._lock:
            if error is not None and job.error is None:
                job.error = error
            job.remaining -= 1
            if job.remaining:
                return 0
        try:
            if job.error is not None:
                raise _Failed(job.error)
            try:
                set_file_meta(job.fd, job.node, self._owner)
            finally:
                os.close(job.fd)
                job.fd = -1
            return self._publish(job)
        except (OSError, _Failed) as exc:
            if job.fd >= 0:
                os.close(job.fd)
            if job.tmp:
                unlink_quiet(job.d.fd, job.tmp)
            self._error(f"{job.rel}: {_reason(exc)}")
            return 0
        finally:
            job.d.release()

    def _write_whole(self, job: FileJob, data: bytes) -> int:
        """Create, fill, finish and publish a file whose content is ``data``; returns 1 on success."""
        job.tmp = tmp_name(job.node.name)
        try:
            # Created with its final permission bits when the umask allows, which spares a chmod;
            # the content is no more readable under the temporary name than under the final one.
            mode = job.node.mode & 0o777
            fd = os.open(job.tmp, FILE_FLAGS, mode, dir_fd=job.d.fd)
            try:
                _pwrite_all(fd, data, 0)
                set_file_meta(fd, job.node, self._owner, mode & ~self._umask)
            finally:
                os.close(fd)
            return self._publish(job)
        except OSError as exc:
            unlink_quiet(job.d.fd, job.tmp)
            self._error(f"{job.rel}: {_reason(exc)}")
            return 0
        finally:
            job.d.release()

    def _publish(self, job: FileJob) -> int:
        """Rename the finished temp file over the final name (replacing a directory there)."""
        name, dir_fd = job.node.name, job.d.fd
        try:
            os.rename(job.tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except IsADirectoryError:
            remove(dir_fd, name, os.lstat(name, dir_fd=dir_fd))
            os.rename(job.tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        with self._lock:
            self._counts.files += 1
            self._counts.bytes += job.node.size
        return 1

    def _error(self, message: str) -> None:
        with self._lock:
            assert self._counts.errors is not None
            self._counts.errors.append(message)


class _ByteBudget:
    """Bytes of pack ranges queued or being read; one range is always let through, however large."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._used = 0
        self._cond = threading.Condition()

    def acquire(self, n: int) -> None:
        with self._cond:
            while self._used and self._used + n > self._limit:
                self._cond.wait()
            self._used += n

    def release(self, n: int) -> None:
        with self._cond:
            self._used -= n
            self._cond.notify_all()


class _Failed(Exception):
    """A file that cannot be finished; carries the first reason."""


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc)


def _pwrite_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        view = view[n:]
        offset += n
