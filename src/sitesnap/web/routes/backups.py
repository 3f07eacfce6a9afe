"""``/api/v1/backup/...``: records, create, one record, restore, delete, config, and the timeline."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint

from sitesnap.errors import RecordNotFound, UsageError
from sitesnap.web.audit import audit
from sitesnap.web.auth import current_principal, requires
from sitesnap.web.config_store import read_site_config, write_site_config
from sitesnap.web.repository import open_site_repository
from sitesnap.web.schemas import (
    BackupRecordOut,
    ConfigIn,
    ConfigOut,
    CreateBackupIn,
    OkOut,
    RealtimeIn,
    RealtimeOut,
    RecordPage,
    RecordQuery,
    RestoreIn,
    RestoreOut,
    RunStarted,
    TimelineOut,
)
from sitesnap.web.state import web_state

__all__ = ["bp"]

bp = APIBlueprint("backups", __name__, url_prefix="/api/v1/backup", tag="Backups")


def _actor() -> str:
    principal = current_principal()
    return principal.actor if principal is not None else ""


def page_dict(page: Any) -> dict[str, Any]:
    return {"items": [item.to_dict() for item in page.items], "total": page.total, "page": page.page,
            "per_page": page.per_page, "pages": page.pages}


@bp.get("/records")
@bp.input(RecordQuery, location="query", arg_name="query")
@bp.output(RecordPage)
@bp.doc(summary="List backup records", responses=[400])
@requires("viewer")
def list_records(query: RecordQuery) -> dict[str, Any]:
    """Snapshots in the catalog, filtered (site, type, status, time range, text) and paginated."""
    page = web_state().catalog.list_backup_records(
        site=query.site, type=query.type, status=query.status, since=query.since, until=query.until,
        text=query.q, page=query.page, per_page=query.per_page, sort=query.sort)
    return page_dict(page)


@bp.post("/realtime")
@bp.input(RealtimeIn, arg_name="body")
@bp.output(RealtimeOut, status_code=202)
@bp.doc(summary="Trigger a realtime snapshot (debounced)", responses=[400])
@requires("operator")
def trigger_realtime(body: RealtimeIn) -> dict[str, Any]:
    """Record an important operation; a burst of triggers becomes one ``realtime`` snapshot.

    The scheduler (``sitesnap serve`` or ``sitesnap scheduler``) takes the
    snapshot once the triggers have been quiet for the debounce window.
    """
    from sitesnap.runtime.realtime import trigger

    batch = trigger(web_state().config, body.reason)
    audit("backup.realtime_trigger", web_state().config.site.name, reason=body.reason)
    return {"pending": batch.count, "first": batch.first.isoformat(), "last": batch.last.isoformat()}


@bp.post("/create")
@bp.input(CreateBackupIn, arg_name="body")
@bp.output(RunStarted, status_code=202)
@bp.doc(summary="Start a backup", responses=[400])
@requires("operator")
def create_backup(body: CreateBackupIn) -> dict[str, Any]:
    """Start a backup of the site; answers at once with the run to follow."""
    state = web_state()
    cfg = state.config
    for name in body.sources:
        cfg.source(name)  # unknown names fail now, not in the background
    params = {"type": body.type, "sources": body.sources, "tags": body.tags}
    run_id = state.start_job("backup", cfg, params, _actor())
    audit("backup.create", cfg.site.name, run_id=run_id, **params)
    return {"run_id": run_id}


@bp.get("/config")
@bp.output(ConfigOut)
@bp.doc(summary="Get the site configuration")
@requires("viewer")
def get_config() -> dict[str, Any]:
    """The site's TOML; inline secrets are masked for everyone but admins."""
    principal = current_principal()
    return read_site_config(web_state(), reveal=principal is not None and principal.role == "admin")


@bp.put("/config")
@bp.input(ConfigIn, arg_name="body")
@bp.output(ConfigOut)
@bp.doc(summary="Replace the site configuration", responses=[400])
@requires("admin")
def put_config(body: ConfigIn) -> dict[str, Any]:
    """Validate with the config loader (errors name line and key), then save atomically."""
    state = web_state()
    saved = write_site_config(state, toml=body.toml, data=body.config, actor=_actor())
    audit("config.update", state.config.site.name, version=saved["version"])
    return saved


@bp.get("/timeline")
@bp.output(TimelineOut)
@bp.doc(summary="What the site can be restored to, per source")
@requires("viewer")
def get_timeline() -> dict[str, Any]:
    """Per source: the restorable windows of continuous capture and the times of the snapshots holding it."""
    from sitesnap.runtime.timeline import site_timeline

    cfg = web_state().config
    with open_site_repository(cfg) as repo, repo.lock(operation="timeline"):
        repo.load_index()
        return site_timeline(repo, cfg)


@bp.get("/<backup_id>")
@bp.output(BackupRecordOut)
@bp.doc(summary="Get one backup record", responses=[404])
@requires("viewer")
def get_record(backup_id: str) -> dict[str, Any]:
    record = web_state().catalog.get_backup_record(backup_id)
    if record is None:
        raise RecordNotFound(f"backup {backup_id}")
    return record.to_dict()


@bp.post("/<backup_id>/restore")
@bp.input(RestoreIn, arg_name="body")
@bp.output(RestoreOut, status_code=200, description="the plan (dry run), or the plan and the run restoring it")
@bp.doc(summary="Plan or start a restore", responses={202: "restore started", 400: "bad request",
                                                       404: "no such backup"})
@requires("admin")
def restore_backup(backup_id: str, body: RestoreIn) -> tuple[dict[str, Any], int]:
    """Plan first; without ``dry_run`` the plan runs, after ``confirm`` if it overwrites live data.

    With ``at`` the site is restored as of that time, as ``restore --at`` does
    (the path names ``latest``); the plan gives each source's time and its
    distance from ``at``.
    """
    state = web_state()
    cfg = state.config
    from sitesnap.engine.site import plan_site_restore, select_snapshot
    from sitesnap.runtime.timeline import plan_times

    for name in [*body.sources, *body.targets]:
        cfg.source(name)
    if body.at is not None and backup_id != "latest":
        raise UsageError("give either a backup ID or \"at\", not both",
                         hint="Restore to a time with POST /api/v1/backup/latest/restore and \"at\".")
    at = None if body.at is None else body.at.isoformat()
    with open_site_repository(cfg) as repo:
        repo.load_index()
        snap = select_snapshot(repo, cfg.site.name, backup_id, at)
        plan = plan_site_restore(repo, cfg, snap, body.sources or None, dict(body.targets))
        plan_json = plan_times(plan.to_json(), body.at)
    details: dict[str, Any] = {"sources": body.sources, "targets": sorted(body.targets), "dry_run": body.dry_run,
                               "overwrites_live_data": plan.overwrites_live_data, "at": at}
    if body.dry_run:
        audit("restore.plan", snap.id, **details)
        return {"plan": plan_json, "run_id": None}, 200
    if plan.overwrites_live_data and body.confirm != cfg.site.name:
        audit("restore.refused", snap.id, reason="not confirmed", **details)
        raise UsageError("this restore overwrites live data; confirm it",
                         hint=f'Send "confirm": "{cfg.site.name}" after reviewing the plan (dry_run: true).')
    # The snapshot chosen for ``at`` is restored (the newest at or before it); the time goes to the audit log.
    params = {"snapshot": snap.id, "sources": body.sources, "targets": dict(body.targets),
              "safety": body.safety_snapshot}
    run_id = state.start_job("restore", cfg, params, _actor())
    audit("restore.start", snap.id, run_id=run_id, **details)
    return {"plan": plan_json, "run_id": run_id}, 202


@bp.delete("/<backup_id>")
@bp.output(OkOut)
@bp.doc(summary="Forget a snapshot", responses=[404])
@requires("admin")
def delete_backup(backup_id: str) -> dict[str, Any]:
    """Delete the snapshot from the primary repository and its record; the data goes at the next prune."""
    state = web_state()
    cfg = state.config
    record = state.catalog.get_backup_record(backup_id)
    if backup_id.startswith("run-"):
        if record is None or record.status == "running":
            raise RecordNotFound(f"backup {backup_id}" if record is None else f"finished backup {backup_id}")
        state.catalog.delete_backup_record(backup_id)
        audit("backup.delete", backup_id, snapshot=False)
        return {"ok": True}
    from sitesnap.engine.forget import forget_snapshots

    with open_site_repository(cfg) as repo:
        result = forget_snapshots(repo, snapshot_refs=[backup_id], site=cfg.site.name, own_site_only=True)
    for sid in result.removed:
        state.catalog.delete_backup_record(sid)
        audit("backup.delete", sid, snapshot=True, had_record=record is not None)
    return {"ok": True}
