"""``status``: the site's health summary (:mod:`sitesnap.runtime.monitor`)."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from sitesnap.cli.context import AppContext, open_site_catalog, pass_app
from sitesnap.cli.output import human_bytes


def _ago(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit} ago"
    return f"{seconds:.0f}s ago"


def _since(iso: str) -> str:
    """An ISO time as "5.0m ago", like the last backup's line."""
    when = datetime.fromisoformat(iso)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return _ago(max(0.0, (datetime.now(UTC) - when).total_seconds()))


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


@click.command()
@pass_app
def status(app: AppContext) -> None:
    """Health summary: last backup vs RPO, last drill, success rates, repository usage, firing alerts."""
    from sitesnap.runtime.monitor import site_status

    cfg = app.site(required=True)
    with open_site_catalog(cfg) as catalog:
        state = site_status(catalog, cfg)
    out = app.output
    if out.json_mode:
        out.json({"sites": [state]})
        return
    backup, drill_ = state["last_backup"], state["last_drill"]
    out.always(f"site {state['site']}: {'healthy' if state['healthy'] else 'NEEDS ATTENTION'}")
    rpo = "within" if backup["within_rpo"] else "BEYOND"
    out.always(f"  last backup   {_ago(backup['age_seconds'])} ({rpo} RPO of {_ago(backup['rpo_seconds'])[:-4]})")
    if drill_ is None:
        out.always("  last drill    never")
    else:
        verdict = "passed" if drill_["ok"] else f"FAILED: {drill_['message']}"
        out.always(f"  last drill    {_since(drill_['at'])} {verdict}, RTO {drill_['rto_seconds'] or 0:.1f}s")
    rates = state["success_rate"]
    out.always(f"  success rate  24h {_pct(rates['24h'])}  7d {_pct(rates['7d'])}  30d {_pct(rates['30d'])}")
    for repo in state["repositories"]:
        quota = f" of {human_bytes(repo['quota_bytes'])} ({repo['used_percent']:.0f}%)" if repo["quota_bytes"] else ""
        out.always(f"  repository    {repo['name']}: {human_bytes(repo['used_bytes'])}{quota}, "
                   f"{repo['snapshots']} snapshots")
    for alert in state["firing_alerts"]:
        out.always(f"  ALERT         {alert.get('summary') or alert['rule']} (since {alert['since']})")


COMMANDS = [status]
