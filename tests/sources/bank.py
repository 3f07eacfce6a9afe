"""A money-transfer workload for consistency tests of database dumps.

``accounts`` start with ``BALANCE`` each; writer threads move money between two
accounts and log the move in ``transfers``, each in one transaction.  A
consistent copy of the database therefore has (1) the total of all balances
unchanged and (2) every balance equal to its start plus the logged moves.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any

ACCOUNTS = 40
BALANCE = 1000


class Bank:
    """Schema, writers and the invariant check over any DB-API connection factory."""

    def __init__(self, connect: Callable[[], Any], placeholder: str, begin: str = "BEGIN") -> None:
        self.connect = connect
        self.ph = placeholder
        self.begin = begin
        self.stop = threading.Event()
        self.commits = 0
        self.errors: list[BaseException] = []
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def create(self, conn: Any, *, serial: str = "INTEGER PRIMARY KEY") -> None:
        cur = conn.cursor()
        cur.execute("CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL)")
        cur.execute(
            f"CREATE TABLE transfers (id {serial}, src INTEGER NOT NULL, "
            "dst INTEGER NOT NULL, amount INTEGER NOT NULL, note VARCHAR(200))"
        )
        rows = [(i, BALANCE) for i in range(1, ACCOUNTS + 1)]
        cur.executemany(f"INSERT INTO accounts VALUES ({self.ph}, {self.ph})", rows)
        conn.commit()

    def _writer(self, seed: int) -> None:
        rng = random.Random(seed)
        conn = self.connect()
        try:
            while not self.stop.is_set():
                a, b = sorted(rng.sample(range(1, ACCOUNTS + 1), 2))
                amount = rng.randint(1, 50) * rng.choice((1, -1))
                try:
                    self._transfer(conn, a, b, amount, rng)
                except Exception as exc:  # retry on lock conflicts, record anything else
                    conn.rollback()
                    if not _retryable(exc):
                        with self._lock:
                            self.errors.append(exc)
                        return
                    time.sleep(0.001)
        finally:
            conn.close()

    def _transfer(self, conn: Any, a: int, b: int, amount: int, rng: random.Random) -> None:
        cur = conn.cursor()
        if self.begin:
            cur.execute(self.begin)
        cur.execute(f"UPDATE accounts SET balance = balance - {self.ph} WHERE id = {self.ph}", (amount, a))
        cur.execute(f"UPDATE accounts SET balance = balance + {self.ph} WHERE id = {self.ph}", (amount, b))
        note = "x" * rng.randint(0, 120) + "'\"\\\n;),(" if rng.random() < 0.3 else None
        cur.execute(
            f"INSERT INTO transfers (src, dst, amount, note) VALUES ({self.ph}, {self.ph}, {self.ph}, {self.ph})",
            (a, b, amount, note),
        )
        conn.commit()
        with self._lock:
            self.commits += 1

    def start(self, writers: int = 4) -> None:
        for i in range(writers):
            thread = threading.Thread(target=self._writer, args=(i,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def wait_for_commits(self, n: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        start = self.commits
        while self.commits - start < n:
            if time.monotonic() > deadline or self.errors:
                raise AssertionError(f"writers stalled: {self.errors}")
            time.sleep(0.01)

    def finish(self) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout=30)
        if self.errors:
            raise AssertionError(f"writer failed: {self.errors[0]!r}")


def check_invariant(conn: Any) -> int:
    """Assert the bank invariants on ``conn``; return the number of transfers."""
    cur = conn.cursor()
    cur.execute("SELECT id, balance FROM accounts ORDER BY id")
    balances = {int(i): int(b) for i, b in cur.fetchall()}
    assert len(balances) == ACCOUNTS
    assert sum(balances.values()) == ACCOUNTS * BALANCE, "total balance changed: torn transaction"
    expected = dict.fromkeys(balances, BALANCE)
    cur.execute("SELECT src, dst, amount FROM transfers")
    moves = cur.fetchall()
    for src, dst, amount in moves:
        expected[int(src)] -= int(amount)
        expected[int(dst)] += int(amount)
    assert balances == expected, "balances disagree with the transfer log: inconsistent dump"
    return len(moves)


def _retryable(exc: BaseException) -> bool:
    text = f"{type(exc).__name__} {exc}".lower()
    return any(word in text for word in ("locked", "deadlock", "serializ", "lock wait", "busy"))
