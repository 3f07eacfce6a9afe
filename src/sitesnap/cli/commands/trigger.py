"""``trigger realtime``: ask for a realtime snapshot (debounced)."""

from __future__ import annotations

import click

from sitesnap.cli.commands.scheduler import _show_run
from sitesnap.cli.context import AppContext, open_site_catalog, pass_app


@click.group()
def trigger() -> None:
    """Ask for a backup now (debounced)."""


@trigger.command(name="realtime")
@click.option("--reason", default="", help="Why (kept with the backup's run).")
@click.option("--wait", "wait", is_flag=True, help="Wait out the quiet period and run the backup here.")
@click.option("--window", default=60.0, show_default=True, metavar="SECONDS",
              help="With --wait: quiet period after the last trigger.")
@pass_app
def trigger_realtime(app: AppContext, reason: str, wait: bool, window: float) -> None:
    """Record a realtime trigger: a burst of them makes one 'realtime' snapshot.

    The running scheduler picks it up after the quiet period; without one,
    use --wait.
    """
    from sitesnap.runtime import realtime

    cfg = app.site(required=True)
    out = app.output
    batch = realtime.trigger(cfg, reason)
    if not wait:
        if out.json_mode:
            out.json({"message_type": "triggered", **batch.to_dict()})
        else:
            out.always(f"realtime backup requested ({batch.count} trigger(s) pending)")
        return
    with open_site_catalog(cfg) as catalog, out.progress("backup") as sink:
        result = realtime.wait_and_run(cfg, catalog, window=window, sink=sink)
    if result is None:
        if out.json_mode:
            out.json({"message_type": "claimed_elsewhere"})
        else:
            out.always("another process took the pending triggers")
        return
    _show_run(app, result)


COMMANDS = [trigger]
