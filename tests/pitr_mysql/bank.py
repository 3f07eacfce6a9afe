"""Writers that move money between accounts, each transfer stamped with its commit's binlog second."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Any

import pymysql
from tests.pitr_mysql.conftest import Server

ACCOUNTS = 20
OPENING = 1000


def create_bank(server: Server, db: str) -> None:
    server.sql(f"CREATE DATABASE {db}",
               f"CREATE TABLE {db}.accounts (id INT PRIMARY KEY, balance BIGINT NOT NULL) ENGINE=InnoDB",
               f"CREATE TABLE {db}.ledger (id BIGINT AUTO_INCREMENT PRIMARY KEY, src INT NOT NULL, dst INT NOT NULL, "
               "amount INT NOT NULL, stamp BIGINT NOT NULL) ENGINE=InnoDB",
               f"INSERT INTO {db}.accounts VALUES " + ",".join(f"({i}, {OPENING})" for i in range(1, ACCOUNTS + 1)))


@dataclass
class Bank:
    """Four transfer writers on ``db`` and one writer on ``other`` (same table name, another database)."""

    server: Server
    db: str
    other: str
    stop: threading.Event = field(default_factory=threading.Event)
    commit_order: threading.Lock = field(default_factory=threading.Lock)
    errors: list[BaseException] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for i in range(4):
            self.threads.append(threading.Thread(target=self._guard, args=(self._transfers, i), daemon=True))
        self.threads.append(threading.Thread(target=self._guard, args=(self._other_writes, 99), daemon=True))
        for t in self.threads:
            t.start()

    def finish(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)
        if self.errors:
            raise self.errors[0]

    def _guard(self, body: Any, seed: int) -> None:
        try:
            body(seed)
        except BaseException as exc:
            self.errors.append(exc)

    def _transfers(self, seed: int) -> None:
        rnd = random.Random(seed)
        conn = self.server.connect(self.db, autocommit=False)
        with conn.cursor() as cur:
            while not self.stop.is_set():
                a, b = rnd.sample(range(1, ACCOUNTS + 1), 2)
                amount = rnd.randint(1, 50)
                try:
                    cur.execute("UPDATE accounts SET balance = balance - %s WHERE id = %s", (amount, a))
                    cur.execute("UPDATE accounts SET balance = balance + %s WHERE id = %s", (amount, b))
                    # Commits take their turn and pin the session clock, so the ledger's stamp is the
                    # second the binlog records for this commit, and stamps never decrease in binlog order.
                    with self.commit_order:
                        cur.execute("SET timestamp = UNIX_TIMESTAMP()")
                        cur.execute("INSERT INTO ledger (src, dst, amount, stamp) VALUES (%s, %s, %s, "
                                    "UNIX_TIMESTAMP())", (a, b, amount))
                        conn.commit()
                        cur.execute("SET timestamp = DEFAULT")
                except pymysql.err.OperationalError as exc:
                    if exc.args[0] not in (1205, 1213):  # lock wait timeout, deadlock: try another transfer
                        raise
                    conn.rollback()
        conn.close()

    def _other_writes(self, seed: int) -> None:
        conn = self.server.connect(self.other)
        with conn.cursor() as cur:
            while not self.stop.wait(0.05):
                cur.execute("INSERT INTO ledger (src, dst, amount, stamp) VALUES (-1, -1, -1, UNIX_TIMESTAMP())")
                cur.execute("UPDATE accounts SET balance = balance + 1 WHERE id = 1")
        conn.close()


def ledger(server: Server, db: str) -> dict[int, tuple[int, int, int, int]]:
    return {int(r[0]): (int(r[1]), int(r[2]), int(r[3]), int(r[4]))
            for r in server.sql(f"SELECT id, src, dst, amount, stamp FROM {db}.ledger")}


def balances(server: Server, db: str) -> dict[int, int]:
    return {int(r[0]): int(r[1]) for r in server.sql(f"SELECT id, balance FROM {db}.accounts")}


def expected_balances(rows: dict[int, tuple[int, int, int, int]]) -> dict[int, int]:
    out = {i: OPENING for i in range(1, ACCOUNTS + 1)}
    for src, dst, amount, _stamp in rows.values():
        out[src] -= amount
        out[dst] += amount
    return out


def checksum(server: Server, db: str) -> list[tuple[Any, ...]]:
    return server.sql(f"CHECKSUM TABLE {db}.accounts, {db}.ledger EXTENDED")
