"""``alert test`` and ``alert check`` (also spelled ``alerts``)."""

from __future__ import annotations

import click

from sitesnap.cli.context import AppContext, open_site_catalog, pass_app
from sitesnap.errors import NotificationError


@click.group()
def alert() -> None:
    """Alert channels and rules: send a test message, evaluate now."""


@alert.command(name="test")
@click.option("--channel", metavar="NAME", help="Only this channel (its name, or its type when unnamed).")
@pass_app
def alert_test(app: AppContext, channel: str | None) -> None:
    """Send a test message through every configured channel (or one); exits 22 if any fails."""
    from sitesnap.runtime.monitor import test_channels

    cfg = app.site(required=True)
    results = test_channels(cfg, channel)
    out = app.output
    if out.json_mode:
        out.json({"results": results})
    else:
        if not results:
            out.always("no alert channels configured ([[alerts.channels]])")
        for r in results:
            out.always(f"  {r['channel']}: " + ("sent" if r["ok"] else f"FAILED: {r['error']}"))
    failed = [r for r in results if not r["ok"]]
    if failed:
        raise NotificationError(f"{len(failed)} of {len(results)} channel(s) failed; first: {failed[0]['error']}")


@alert.command(name="check")
@pass_app
def alert_check(app: AppContext) -> None:
    """Evaluate the alert rules now and send what changed (firing or resolved)."""
    from sitesnap.runtime.monitor import run_alerts

    cfg = app.site(required=True)
    with open_site_catalog(cfg) as catalog:
        notes = run_alerts(catalog, [cfg])
    out = app.output
    if out.json_mode:
        out.json({"notifications": [{**n.to_dict(), "deliveries": [d.__dict__ for d in n.deliveries]}
                                    for n in notes]})
        return
    if not notes:
        out.always("no change: nothing to send")
    for n in notes:
        sent = ", ".join(d.channel + ("" if d.ok else f" (failed: {d.error})") for d in n.deliveries) or "no channel"
        out.always(f"  {n.kind.value:<8} {n.rule:<22} {n.summary}  -> {sent}")


alerts = click.Group(name="alerts", commands={"check": alert_check, "test": alert_test}, hidden=True,
                     help="Same as 'alert'.")


COMMANDS = [alert, alerts]
