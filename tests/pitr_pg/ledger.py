"""A ledger workload: clients insert rows, one transaction each, every row stamped with clock_timestamp()."""

from __future__ import annotations

import threading
import time
from datetime import datetime

import psycopg

SCHEMA = """
CREATE TABLE ledger (
    id bigserial PRIMARY KEY,
    client int NOT NULL,
    n int NOT NULL,
    at timestamptz NOT NULL DEFAULT clock_timestamp(),
    note text NOT NULL DEFAULT repeat('x', 200)
)
"""


class Ledger:
    """``clients`` threads inserting into ``url``'s ledger until :meth:`stop`."""

    def __init__(self, url: str, clients: int = 4, pause: float = 0.005) -> None:
        self.url, self.clients, self.pause = url, clients, pause
        self.halt = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(clients)]
        self.errors: list[BaseException] = []

    def start(self) -> Ledger:
        for t in self.threads:
            t.start()
        return self

    def _run(self, client: int) -> None:
        try:
            with psycopg.connect(self.url, autocommit=True) as conn:
                n = 0
                while not self.halt.is_set():
                    with conn.transaction():
                        conn.execute("INSERT INTO ledger (client, n) VALUES (%s, %s)", (client, n))
                    n += 1
                    time.sleep(self.pause)
        except BaseException as exc:  # reported by stop()
            self.errors.append(exc)

    def stop(self) -> None:
        self.halt.set()
        for t in self.threads:
            t.join()
        assert not self.errors, self.errors


def create(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(SCHEMA)


def committed(url: str) -> dict[int, tuple[datetime, datetime]]:
    """Every row: (its clock_timestamp() at insert, its transaction's commit time)."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute("SELECT id, at, pg_xact_commit_timestamp(xmin) FROM ledger").fetchall()
    return {int(r[0]): (r[1], r[2]) for r in rows}


def ids(url: str) -> set[int]:
    with psycopg.connect(url, autocommit=True) as conn:
        return {int(r[0]) for r in conn.execute("SELECT id FROM ledger").fetchall()}
