"""``status``: the site's health summary (:mod:`sitesnap.runtime.monitor`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

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


def _capture_line(cap: dict[str, Any]) -> str:
    if cap["lag_seconds"] is None:
        return "never reported"
    verdict = "within" if cap["within_rpo"] else "BEYOND"
    return (f"lag {cap['lag_seconds']:.0f}s ({verdict} capture RPO of {cap['rpo_seconds']:.0f}s), "
            f"last shipped {cap['last_shipped_at'] or 'never'}, restorable from {cap['oldest_restorable_at'] or '-'}")


@click.command()
@pass_app
def status(app: AppContext) -> None:
    """Health summary: last backup vs RPO, last drill, success rates, repository usage, capture lag, firing alerts."""
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
                   f"{repo['snapshots']} snapshots{_age(repo['size_age_seconds'])}")
    for src in state["sources"]:
        if src["capture"] is not None:
            out.always(f"  capture       {src['name']}: {_capture_line(src['capture'])}")
    for alert in state["firing_alerts"]:
        out.always(f"  ALERT         {alert.get('summary') or alert['rule']} (since {alert['since']})")


def _age(seconds: float) -> str:
    """``, size as of 2.0h ago`` for a size a job recorded earlier (it may be stale); nothing for one listed now."""
    return f", size as of {_ago(seconds)}" if seconds >= 1 else ""


COMMANDS = [status]
