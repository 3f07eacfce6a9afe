"""Writers that record their own commit times, for the capture and replay tests."""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path


def make_wal_db(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE rows (writer INTEGER, n INTEGER, t_before INTEGER, payload BLOB, "
                 "PRIMARY KEY (writer, n))")
    conn.close()


@dataclass
class Writers:
    """``count`` threads inserting rows; each row's (t_before, t_after) brackets its commit."""

    path: Path
    count: int = 4
    pause: float = 0.002
    done: dict[tuple[int, int], tuple[int, int]] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _run(self, writer: int) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        n = 0
        while not self.stop.is_set():
            t_before = time.time_ns()
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO rows VALUES (?, ?, ?, randomblob(300))", (writer, n, t_before))
            if n % 7 == 0:  # a multi-row transaction now and then
                conn.execute("INSERT INTO rows VALUES (?, ?, ?, randomblob(3000))", (writer, -n - 1, t_before))
            conn.execute("COMMIT")
            with self.lock:
                self.done[(writer, n)] = (t_before, time.time_ns())
            n += 1
            time.sleep(self.pause)
        conn.close()

    def start(self) -> Writers:
        for i in range(self.count):
            t = threading.Thread(target=self._run, args=(i,), daemon=True)
            t.start()
            self.threads.append(t)
        return self

    def finish(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join()


def rows_in(path: Path) -> set[tuple[int, int]]:
    conn = sqlite3.connect(path)
    try:
        return {(w, n) for w, n in conn.execute("SELECT writer, n FROM rows WHERE n >= 0")}
    finally:
        conn.close()


SLACK_NS = 100_000_000
"""How long before a poll's shipped time a commit must have finished to be certain to be in it.

A poll reads the wal-index, then the clock; a thread paused between the two
(a busy machine) stretches the window in which a finished commit is not yet
shipped.  The other bound, nothing committed after the shipped time, is exact.
"""
