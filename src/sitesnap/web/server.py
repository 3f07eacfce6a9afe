"""Running a web app: waitress in production, werkzeug's reloader-less dev server for ``--debug``.

Waitress serves from one process with a pool of threads: the embedded
scheduler, the jobs started from the API and the server-sent event streams
all live in that one process, with no fork and no worker that a timeout
could kill in the middle of a streamed backup.  It speaks plain HTTP; TLS
belongs to a reverse proxy in front (docs/deployment.md), or to werkzeug's
ad-hoc TLS under ``--debug``.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask

from sitesnap.errors import ConfigError, UsageError
from sitesnap.web.routes.console import BUILD_COMMAND, CONSOLE_DIR, console_built

__all__ = ["Listen", "console_warning", "run_server"]

DEFAULT_THREADS = 8


@dataclass(frozen=True)
class Listen:
    """Where and how to listen; ``tls`` is (certificate, key) files, honoured only by the dev server."""

    host: str
    port: int
    threads: int = DEFAULT_THREADS
    debug: bool = False
    tls: tuple[Path, Path] | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls and self.debug else 'http'}://{host}:{self.port}/"


def console_warning(directory: Path = CONSOLE_DIR) -> str | None:
    """A one-line warning when the console is not built here (an editable install), else None."""
    if console_built(directory):
        return None
    return f"the web console is not built; serving the API alone (build it: {BUILD_COMMAND})"


def run_server(app: Flask, listen: Listen, announce: Callable[[str], None]) -> None:
    """Serve ``app`` until interrupted; ``announce`` is told the address once the socket is bound.

    Raises ConfigError when TLS is configured for the production server,
    which does not terminate TLS itself, and UsageError when the address
    cannot be bound (in use, not local, no permission).
    """
    try:
        run, close = _bind_werkzeug(app, listen) if listen.debug else _bind_waitress(app, listen)
    except OSError as exc:
        raise UsageError(f"cannot listen on {listen.host}:{listen.port}: {exc.strerror or exc}",
                         hint="Choose another --port or --host, or stop what listens there.") from None
    announce(listen.url)
    previous = _stop_on_sigterm()
    try:
        run()
    finally:
        close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _stop_signal(signum: int, _frame: object) -> None:
    raise SystemExit(0)


def _stop_on_sigterm() -> Any:
    """SIGTERM (systemd's stop, ``kill``) ends serving like Ctrl-C: sockets close, ``finally`` blocks run.

    Returns the previous handler, or None off the main thread (where signals cannot be handled).
    """
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _stop_signal)


def _bind_waitress(app: Flask, listen: Listen) -> tuple[Callable[[], None], Callable[[], None]]:
    if listen.tls is not None:
        raise ConfigError("sitesnap serve speaks plain HTTP; [web] tls_cert and tls_key are not used by it",
                          hint="Terminate TLS in a reverse proxy and set [web] behind_proxy = true "
                               "(docs/deployment.md, TLS).")
    from waitress.server import create_server

    # Proxy headers are ProxyFix's job ([web] behind_proxy), so waitress passes them through untouched;
    # a progress stream may stay quiet between events for long, hence the long channel timeout.
    server = create_server(app, host=listen.host, port=listen.port, threads=listen.threads, ident="sitesnap",
                           channel_timeout=3600, clear_untrusted_proxy_headers=False)
    return server.run, server.close


def _bind_werkzeug(app: Flask, listen: Listen) -> tuple[Callable[[], None], Callable[[], None]]:
    from werkzeug.serving import make_server

    ssl_context = (str(listen.tls[0]), str(listen.tls[1])) if listen.tls else None
    server = make_server(listen.host, listen.port, app, threaded=True, ssl_context=ssl_context)
    return server.serve_forever, server.server_close
