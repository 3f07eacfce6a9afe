"""``timeline``: the restorable window of every continuous source."""

from __future__ import annotations

from typing import Any

import click

from sitesnap.cli.context import AppContext, pass_app


@click.command()
@pass_app
def timeline(app: AppContext) -> None:
    """Show, per continuous source, the oldest and newest restorable time, generations and gaps."""
    from sitesnap.engine.replay import source_timelines

    errors: list[str] = []
    with app.open_repo() as repo, repo.lock(operation="timeline"):
        timelines = source_timelines(repo, errors)
    data = [t.to_json() for t in timelines.values()]
    out = app.output
    if out.json_mode:
        out.json({"sources": data, "errors": errors})
        return
    if not data:
        out.always("no continuous source has captured anything in this repository")
    for entry in data:
        _show(app, entry)
    for error in errors:
        out.warn(error)


def _iso(time_ns: int | None) -> str:
    from sitesnap.engine.replay import to_datetime

    return "-" if time_ns is None else to_datetime(time_ns).isoformat(timespec="seconds")


def _show(app: AppContext, entry: dict[str, Any]) -> None:
    out = app.output
    out.always(f"{entry['source']}: restorable from {_iso(entry['oldest_ns'])} to {_iso(entry['newest_ns'])}")
    for gen in entry["generations"]:
        broken = f"  (chain broken: {gen['broken']})" if gen["broken"] else ""
        out.always(f"  generation {gen['generation'][:8]}  {_iso(gen['oldest_ns'])} .. {_iso(gen['newest_ns'])}"
                   f"  {gen['segments']} segments{broken}")
    for gap in entry["gaps"]:
        out.always(f"  gap  {_iso(gap['from_ns'])} .. {_iso(gap['to_ns'])}  (not restorable)")
    for orphan in entry["orphans"]:
        out.warn(f"generation {orphan[:8]} of {entry['source']} has no base segment")


COMMANDS = [timeline]
