"""A misbehaving TCP proxy on loopback, placed between a client and a real server.

It forwards bytes both ways and, following a seeded plan per connection,
resets a connection after a random number of bytes (a dropped connection
in the middle of a request or of its reply), slows every chunk down (a slow
server), or holds a reply back for a while (a stalled server, so the client
times out).  Counters say what it did, so a test can assert that faults
really happened.  Threads only; stopped with :meth:`close`.
"""

from __future__ import annotations

import random
import socket
import struct
import threading
import time
from dataclasses import dataclass


@dataclass
class ProxyPlan:
    """What the proxy does to connections.

    ``drop_every``: mean number of bytes (both directions) between resets:
    each connection is reset after an exponentially distributed number of
    bytes, so long-lived pooled connections are cut as often as short ones;
    at most ``max_drops`` connections are reset in all (keep it below the
    client's retry attempts to bound the damage).  ``delay``: seconds added
    before each forwarded chunk.  ``stall_probability``: share of connections
    whose first reply chunk is held back for ``stall_seconds``, at most
    ``max_stalls`` in all.
    """

    drop_every: int = 0
    max_drops: int = 4
    delay: float = 0.0
    stall_probability: float = 0.0
    stall_seconds: float = 0.0
    max_stalls: int = 1_000_000


@dataclass
class _Conn:
    budget: int | None
    stall: bool
    moved: int = 0
    stalled: bool = False


class FaultProxy:
    """Listen on 127.0.0.1 (``port``), forward to ``127.0.0.1:upstream_port``."""

    def __init__(self, upstream_port: int, plan: ProxyPlan, seed: int = 0) -> None:
        self.upstream_port = upstream_port
        self.plan = plan
        self.connections = 0
        self.drops = 0
        self.stalls = 0
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self.port = int(self._listener.getsockname()[1])
        self._closed = False
        threading.Thread(target=self._accept, daemon=True, name="fault-proxy").start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _new_conn(self) -> _Conn:
        with self._lock:
            self.connections += 1
            plan = self.plan
            budget = int(self._rng.expovariate(1 / plan.drop_every)) if plan.drop_every else None
            stall = self._rng.random() < plan.stall_probability
            return _Conn(budget, stall)

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            except OSError:
                self._reset(client)
                continue
            conn = self._new_conn()
            for src, dst, reply in ((client, upstream, False), (upstream, client, True)):
                threading.Thread(target=self._pump, args=(src, dst, conn, reply), daemon=True).start()

    @staticmethod
    def _reset(*socks: socket.socket) -> None:
        for sock in socks:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.close()
            except OSError:
                pass

    def _should_cut(self, conn: _Conn, size: int) -> bool:
        with self._lock:
            conn.moved += size
            if conn.budget is None or conn.moved <= conn.budget or self.drops >= self.plan.max_drops:
                return False
            conn.budget = None
            self.drops += 1
            return True

    def _should_stall(self, conn: _Conn) -> bool:
        with self._lock:
            if not conn.stall or conn.stalled or self.stalls >= self.plan.max_stalls:
                return False
            conn.stalled = True
            self.stalls += 1
            return True

    def _pump(self, src: socket.socket, dst: socket.socket, conn: _Conn, reply: bool) -> None:
        try:
            while data := src.recv(65536):
                if self.plan.delay:
                    time.sleep(self.plan.delay)
                if reply and self._should_stall(conn):
                    time.sleep(self.plan.stall_seconds)
                if self._should_cut(conn, len(data)):
                    break
                dst.sendall(data)
        except OSError:
            pass
        self._reset(src, dst)

    def close(self) -> None:
        self._closed = True
        self._listener.close()
