"""``drill``, ``status``, ``alert test`` and ``alert check`` (also spelled ``alerts``).

Thin edges over :mod:`sitesnap.runtime.monitor`: open the site's catalog,
call one function, render.  ``drill`` runs through the recorded job runner,
so a drill from the terminal is a run like a scheduled one.
"""

from __future__ import annotations

from typing import Any

import click

from sitesnap.cli.context import AppContext, open_site_catalog, pass_app
from sitesnap.cli.output import human_bytes
from sitesnap.errors import NotificationError, UsageError

__all__ = ["COMMANDS"]


def _site(app: AppContext, name: str | None) -> Any:
    cfg = app.site(required=True)
    if name is not None and name != cfg.site.name:
        raise UsageError(f"--site {name}: the configuration is for site {cfg.site.name!r}",
                         hint="Pass that site's configuration with -c FILE.")
    return cfg


def _ago(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit} ago"
    return f"{seconds:.0f}s ago"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


@click.command()
@click.option("--site", metavar="NAME", help="The site to drill (must match the configuration).")
@click.option("--snapshot", metavar="ID", help="Drill this snapshot instead of the latest.")
@click.option("--keep", is_flag=True, help="Keep the scratch directory and databases for inspection.")
@click.option("--read-data-subset", metavar="N%", help="Also read this share of the repository's packs.")
@click.option("--repository", metavar="NAME",
              help="Drill from this configured repository (default: the one -r names, or the primary).")
@pass_app
def drill(app: AppContext, site: str | None, snapshot: str | None, keep: bool,
          read_data_subset: str | None, repository: str | None) -> None:
    """Restore the latest snapshot into scratch places, verify it and time it (the RTO).

    Files go to a temporary directory, SQLite to a temporary file, PostgreSQL
    and MariaDB to a temporary database <db>_drill_<hex> on the source's
    server; all are removed afterwards.  The result is recorded and a
    failure raises the integrity alert.  Exits 14 when the drill fails.
    """
    from sitesnap.runtime.jobs import run_job

    cfg = _site(app, site)
    out = app.output
    repo_cfg = app.site_repository(cfg, repository)
    params: dict[str, Any] = {"keep": keep, "repository": repo_cfg.name}
    if snapshot:
        params["snapshot"] = snapshot
    if read_data_subset:
        params["read_data_subset"] = read_data_subset
    with open_site_catalog(cfg) as catalog, out.progress("drill") as sink:
        result = run_job("drill", cfg, params, catalog=catalog, triggered_by="cli", sink=sink,
                         password=app.job_password(repo_cfg))
    if out.json_mode:
        out.json_line({"message_type": "summary", **result.to_dict()})
    elif result.result.get("checks"):
        _show_drill(app, result.result)
    result.raise_for_error()


def _show_drill(app: AppContext, report: dict[str, Any]) -> None:
    out = app.output
    out.always(f"drill of snapshot {report['snapshot_id'][:8]} ({report['snapshot_time']})")
    for check in report["checks"]:
        mark = {"ok": "ok    ", "failed": "FAILED", "skipped": "skip  "}.get(check["status"], check["status"])
        out.always(f"  {mark} {check['name']:<16} {check['kind']:<10} {check['seconds']:>7.2f}s  {check['detail']}")
    for kept in report.get("kept") or []:
        out.always(f"  kept: {kept}")
    verdict = "passed" if report["ok"] else "FAILED"
    out.always(f"drill {verdict}; restore and verification took {report['rto_seconds']:.2f}s (RTO)")


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
        out.always(f"  last drill    {drill_['at']} {verdict}, RTO {drill_['rto_seconds'] or 0:.1f}s")
    rates = state["success_rate"]
    out.always(f"  success rate  24h {_pct(rates['24h'])}  7d {_pct(rates['7d'])}  30d {_pct(rates['30d'])}")
    for repo in state["repositories"]:
        quota = f" of {human_bytes(repo['quota_bytes'])} ({repo['used_percent']:.0f}%)" if repo["quota_bytes"] else ""
        out.always(f"  repository    {repo['name']}: {human_bytes(repo['used_bytes'])}{quota}, "
                   f"{repo['snapshots']} snapshots")
    for alert in state["firing_alerts"]:
        out.always(f"  ALERT         {alert.get('summary') or alert['rule']} (since {alert['since']})")


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

COMMANDS = [drill, status, alert, alerts]
