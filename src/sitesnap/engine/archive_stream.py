"""Saving a stream (a database dump) as one file node, hashing and sealing while it is read.

Hashing, compressing and encrypting overlap with reading the dump (the native
code releases the GIL); a bounded window of batches keeps memory flat and the
chunks in order.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import BinaryIO

from sitesnap.format.chunker import Chunker, ChunkerParams
from sitesnap.progress import Tracker

from .archive_summary import ArchiveSummary

__all__ = ["save_stream"]

_BATCH_BYTES = 1 << 20
_WINDOW = 8

SaveBatch = Callable[[list[bytes]], list[tuple[bytes, int]]]


def save_stream(
    stream: BinaryIO,
    params: ChunkerParams,
    save_batch: SaveBatch,
    tracker: Tracker,
    summary: ArchiveSummary,
    lock: threading.Lock,
) -> tuple[list[bytes], int]:
    """Chunk ``stream`` and save every chunk through ``save_batch``; returns (chunk IDs, size)."""
    content: list[bytes] = []
    window: deque[Future[list[tuple[bytes, int]]]] = deque()
    batch: list[bytes] = []
    batch_bytes = size = 0
    pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="sitesnap-stream")
    try:

        def settle(fut: Future[list[tuple[bytes, int]]]) -> None:
            saved = fut.result()
            content.extend(blob_id for blob_id, _ in saved)
            added = sum(n for _, n in saved)
            if added:
                tracker.update(bytes_new=added)

        def submit(nbytes: int) -> None:
            window.append(pool.submit(save_batch, list(batch)))
            tracker.update(bytes_done=nbytes)
            with lock:
                summary.bytes_read += nbytes
                summary.bytes_total += nbytes
            batch.clear()
            if len(window) >= _WINDOW:
                settle(window.popleft())

        for chunk in Chunker(params).cut_stream(stream):
            batch.append(chunk)
            batch_bytes += len(chunk)
            size += len(chunk)
            if batch_bytes >= _BATCH_BYTES:
                submit(batch_bytes)
                batch_bytes = 0
        if batch:
            submit(batch_bytes)
        while window:
            settle(window.popleft())
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)  # an interrupted dump is not waited for
        raise
    pool.shutdown(wait=True)
    return content, size
