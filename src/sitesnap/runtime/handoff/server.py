"""The scheduler's half of the hand-off: a Unix socket server that runs CLI backups in this process.

One daemon thread accepts; each connection gets its own thread, which checks
the peer and the request and calls the scheduler's handler.  Replies go
through :class:`Reply`, whose writer thread keeps a slow or vanished client
from ever blocking the backup.  :meth:`HandoffServer.close` stops accepting,
removes the socket and (``wait``) lets running backups finish.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import socket
import stat
import struct
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sitesnap.errors import SitesnapError
from sitesnap.progress import Progress
from sitesnap.runtime.handoff.protocol import (
    MAX_SOCKET_PATH,
    PROTOCOL_VERSION,
    Refused,
    read_message,
    write_message,
)

__all__ = ["BackupHandler", "HandoffServer", "Reply", "peer_allowed"]

log = logging.getLogger(__name__)

REQUEST_LIMIT = 64 << 10
REQUEST_TIMEOUT = 10.0  # for the client to send its request line
SEND_TIMEOUT = 60.0  # a client that reads nothing for this long is dropped
QUEUED_EVENTS = 256  # progress beyond this, for a client that lags, is dropped (the next one supersedes it)
MAX_CONNECTIONS = 8
PARAM_TYPES: dict[str, type] = {"type": str, "tags": list, "sources": list, "copy": bool}


def peer_allowed(credentials: tuple[int, int, int], own_uid: int) -> bool:
    """Whether a peer (``SO_PEERCRED``: pid, uid, gid) may hand backups to a scheduler running as ``own_uid``."""
    _pid, uid, _gid = credentials
    return uid in (own_uid, 0)


def _peer_credentials(conn: socket.socket) -> tuple[int, int, int] | None:
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:  # not Linux: refuse rather than trust the file mode alone
        return None
    pid, uid, gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i")))
    return pid, uid, gid


class Reply:
    """What a backup handler sends to its client; thread-safe, never blocks the backup on a slow client.

    Messages go through a queue to a writer thread.  Progress is dropped when
    the queue is full; once a write fails (the client went away) everything
    is dropped.
    """

    def __init__(self, conn: socket.socket) -> None:
        self._conn = conn
        self._queue: queue.Queue[bytes | None] = queue.Queue(QUEUED_EVENTS)
        self.run_id = ""
        self.accepted = False
        self._writer = threading.Thread(target=self._write, name="handoff-writer", daemon=True)
        self._writer.start()

    def send(self, message: dict[str, Any], *, droppable: bool = False) -> None:
        data = write_message(message)
        if not droppable:
            self._queue.put(data)
            return
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(data)

    def accept(self, run_id: str) -> None:
        """Tell the client its backup runs, as ``run_id``; send before anything else."""
        self.accepted, self.run_id = True, run_id
        self.send({"message_type": "accepted", "run_id": run_id, "pid": os.getpid()})

    def warning(self, text: str) -> None:
        self.send({"message_type": "warning", "message": text})

    def progress(self, event: Progress) -> None:
        """A :data:`~sitesnap.progress.ProgressSink`."""
        self.send({"message_type": "status", **event.to_dict()}, droppable=not event.finished)

    def close(self) -> None:
        """Send what is queued (up to SEND_TIMEOUT per write) and stop the writer."""
        self._queue.put(None)
        self._writer.join()

    def _write(self) -> None:
        alive = True
        while (data := self._queue.get()) is not None:
            if alive:
                try:
                    self._conn.sendall(data)
                except OSError:
                    alive = False  # gone or stuck: the backup goes on without it


BackupHandler = Callable[[dict[str, Any], Reply], dict[str, Any]]
"""Runs one handed-off backup: calls ``reply.accept(run_id)`` first (or raises :class:`Refused`),
feeds ``reply.progress``, returns ``RunResult.to_dict()``."""


class HandoffServer:
    """Listens on the site's socket and runs each accepted request with ``handler``, one thread per connection.

    Start it only while holding the scheduler's lock: :meth:`start` removes a
    leftover socket file, which only a dead scheduler can have left then.
    """

    def __init__(self, path: Path, digest: str, handler: BackupHandler, *, uid: int | None = None) -> None:
        self.path = path
        self.digest = digest
        self.handler = handler
        self.uid = os.geteuid() if uid is None else uid
        self._listener: socket.socket | None = None
        self._inode: int | None = None
        self._threads: set[threading.Thread] = set()
        self._lock = threading.Lock()
        self._closed = threading.Event()

    def start(self) -> bool:
        """Bind (mode 0600), listen and accept in a daemon thread.

        False (and nothing listens) when the path is too long, the socket
        cannot be made, or the system cannot check peers (no ``SO_PEERCRED``).
        """
        raw = os.fsencode(self.path)
        if getattr(socket, "SO_PEERCRED", None) is None:
            log.info("handoff: this system cannot tell a peer's user (no SO_PEERCRED); CLI backups run in their "
                     "own process")
            return False
        if len(raw) > MAX_SOCKET_PATH:
            log.warning("handoff: socket path %s is longer than %d bytes; CLI backups run in their own process",
                        self.path, MAX_SOCKET_PATH)
            return False
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                if stat.S_ISSOCK(os.lstat(raw).st_mode):
                    os.unlink(raw)
            sock.bind(raw)
            os.chmod(raw, 0o600)  # before listen(): nobody can connect until then
            self._inode = os.lstat(raw).st_ino
            sock.listen(MAX_CONNECTIONS)
        except OSError as exc:
            sock.close()
            log.warning("handoff: cannot listen on %s (%s); CLI backups run in their own process", self.path, exc)
            return False
        self._listener = sock
        threading.Thread(target=self._accept_loop, args=(sock,), name="handoff-accept", daemon=True).start()
        return True

    def close(self, *, wait: bool = True) -> None:
        """Stop accepting and remove the socket (idempotent); with ``wait``, let running backups finish."""
        if not self._closed.is_set():
            self._closed.set()
            listener, self._listener = self._listener, None
            if listener is not None:
                with contextlib.suppress(OSError):
                    listener.shutdown(socket.SHUT_RDWR)  # wakes accept() on Linux
                listener.close()
                self._unlink()
        if wait:
            with self._lock:
                threads = list(self._threads)
            for thread in threads:
                thread.join()

    def _unlink(self) -> None:
        with contextlib.suppress(OSError):
            if os.lstat(self.path).st_ino == self._inode:
                os.unlink(self.path)

    def _accept_loop(self, listener: socket.socket) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                if self._closed.wait(0.1):
                    return
                continue
            with self._lock:
                busy = len(self._threads) >= MAX_CONNECTIONS
                thread = threading.Thread(target=self._serve, args=(conn, busy), name="handoff-connection")
                self._threads.add(thread)
            thread.start()

    def _serve(self, conn: socket.socket, busy: bool) -> None:
        try:
            with conn:
                self._converse(conn, busy)
        except Exception:
            log.exception("handoff: connection failed")
        finally:
            with self._lock:
                self._threads.discard(threading.current_thread())

    def _converse(self, conn: socket.socket, busy: bool) -> None:
        conn.settimeout(REQUEST_TIMEOUT)
        try:
            params: dict[str, Any] | Refused = self._check(conn, busy)
        except Refused as refused:
            params = refused
        conn.settimeout(SEND_TIMEOUT)
        reply = Reply(conn)
        try:
            if isinstance(params, Refused):
                raise params
            reply.send({"message_type": "result", **self.handler(params, reply)})
        except Refused as refused:
            log.info("handoff: refused a backup: %s", refused.reason)
            reply.send({"message_type": "refused", "code": refused.code, "reason": refused.reason})
        except Exception as exc:
            log.exception("handoff: a backup failed to run")
            error = SitesnapError(f"internal error: {type(exc).__name__}: {exc}")
            if reply.accepted:
                reply.send({"message_type": "result", "run_id": reply.run_id, "kind": "backup", "status": "failed",
                            "result": {}, "error": error.to_dict()})
            else:
                reply.send({"message_type": "refused", "code": "error", "reason": error.message})
        finally:
            reply.close()

    def _check(self, conn: socket.socket, busy: bool) -> dict[str, Any]:
        """The request's backup parameters; raises :class:`Refused`."""
        try:
            with conn.makefile("rb") as reader:
                request = read_message(reader, REQUEST_LIMIT)
        except OSError:
            request = None
        credentials = _peer_credentials(conn)
        if credentials is None or not peer_allowed(credentials, self.uid):
            raise Refused("peer", "only the scheduler's own user may hand it backups")
        if request is None:
            raise Refused("request", "no request line")
        if request.get("v") != PROTOCOL_VERSION or request.get("op") != "backup":
            raise Refused("version", f"the scheduler speaks version {PROTOCOL_VERSION} (backup only)")
        if busy:
            raise Refused("busy", f"the scheduler already runs {MAX_CONNECTIONS} CLI backups")
        if request.get("config_digest") != self.digest:
            raise Refused("stale_config", "the site's scheduler runs an older configuration "
                                          "(the file changed since it started; restart it to use the new one)")
        params = request.get("params")
        if not isinstance(params, dict) or not all(_param_ok(key, value) for key, value in params.items()):
            raise Refused("request", "malformed backup parameters")
        return params


def _param_ok(key: str, value: Any) -> bool:
    kind = PARAM_TYPES.get(key)
    if kind is None or not isinstance(value, kind):
        return False
    return not isinstance(value, list) or all(isinstance(item, str) for item in value)
