"""``capture``: follow every continuous source of the site and ship its log to the repository."""

from __future__ import annotations

import signal
import threading
from typing import Any

import click

from sitesnap.cli.context import AppContext, open_site_catalog, pass_app
from sitesnap.cli.output import human_bytes


def _wal_limit(_ctx: click.Context, _param: click.Parameter, value: str) -> int:
    from sitesnap.config.units import parse_size

    try:
        return parse_size(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command()
@click.option("--once", is_flag=True, help="Ship what is committed now and exit (for cron and tests).")
@click.option("--interval", type=click.FloatRange(0.05, 3600), default=1.0, show_default=True,
              help="Seconds between two shipments: the recovery point objective.")
@click.option("--wal-limit", default="64MiB", show_default=True, callback=_wal_limit,
              help="Truncate a SQLite WAL that grows past this size (starts a new generation).")
@pass_app
def capture(app: AppContext, once: bool, interval: float, wal_limit: int) -> None:
    """Capture the change log of every source with continuous = true, until stopped.

    Runs in the foreground; Ctrl-C or SIGTERM stop it after a last shipment.
    Each source is resumed where its log ends when the database provably
    continues it, and restarted from a new base copy (a new generation)
    otherwise.  Each source type is captured by its continuous kind (SQLite
    sources in WAL mode ship WAL frames).
    """
    from sitesnap.engine.continuous import continuous_sources, run_capture
    from sitesnap.runtime.capture import capture_reporter

    cfg = app.site(required=True)
    sources = continuous_sources(cfg)
    out = app.output
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        with open_site_catalog(cfg) as catalog, app.open_repo() as repo:
            if not once and not out.json_mode:
                names = ", ".join(src.name for src in sources)
                out.always(f"capturing {names} every {interval:g} s (Ctrl-C to stop)")
            stats = run_capture(repo, sources, interval=interval, once=once, stop=stop, wal_limit=wal_limit,
                                on_progress=capture_reporter(catalog, cfg.site.name))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    _render(app, [s.to_json() for s in stats])


def _render(app: AppContext, stats: list[dict[str, Any]]) -> None:
    out = app.output
    if out.json_mode:
        out.json_line({"message_type": "summary", "sources": stats})
        return
    for s in stats:
        how = "resumed" if s["resumed"] else "started"
        out.always(f"{s['source']}: {how}; {s['commits']} commits in {s['segments']} segments "
                   f"({human_bytes(s['bytes_shipped'])}), {s['generations_started']} new generation(s)")
        for reason in s["new_generation_reasons"]:
            out.always(f"  new generation: {reason}")


COMMANDS = [capture]
