"""Sites, repositories, job kinds, drills, metrics, audit, health and the Prometheus endpoint."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint
from flask import Response

from sitesnap import __version__
from sitesnap.catalog import redact_url
from sitesnap.config import JOBS, SiteConfig
from sitesnap.runtime.jobs import job_kinds
from sitesnap.runtime.metrics import metrics_json, render_prometheus
from sitesnap.web.audit import audit
from sitesnap.web.auth import current_principal, public, public_if_metrics_public, requires
from sitesnap.web.metrics_source import collect_metrics
from sitesnap.web.routes.backups import page_dict
from sitesnap.web.schemas import (
    AuditPage,
    AuditQuery,
    DrillIn,
    DrillPage,
    DrillQuery,
    HealthOut,
    RepositoryOut,
    RunStarted,
    SiteOut,
)
from sitesnap.web.state import web_state

__all__ = ["bp", "metrics_bp"]

bp = APIBlueprint("system", __name__, url_prefix="/api/v1", tag="Site")
metrics_bp = APIBlueprint("prometheus", __name__, tag="Monitoring")


def _site(cfg: SiteConfig) -> dict[str, Any]:
    return {"name": cfg.site.name, "description": cfg.site.description, "configured": True,
            "rpo_seconds": cfg.site.rpo.total_seconds(),
            "sources": [{"name": s.name, "type": s.type} for s in cfg.sources],
            "repositories": [r.name for r in cfg.repositories]}


@bp.get("/sites")
@bp.output(list[SiteOut])  # type: ignore[arg-type]  # apiflask accepts lists of models at run time
@bp.doc(summary="List sites: the served one, then others known to the catalog")
@requires("viewer")
def list_sites() -> list[dict[str, Any]]:
    state = web_state()
    cfg = state.config
    out = [_site(cfg)]
    for name in state.catalog.list_config_sites():
        if name != cfg.site.name:
            out.append({"name": name, "description": "", "configured": False, "rpo_seconds": None,
                        "sources": [], "repositories": []})
    return out


@bp.get("/repositories")
@bp.output(list[RepositoryOut])  # type: ignore[arg-type]  # as above
@bp.doc(summary="List the site's repositories (no credentials)")
@requires("viewer")
def list_repositories() -> list[dict[str, Any]]:
    cfg = web_state().config
    return [{"site": cfg.site.name, "name": r.name, "url": redact_url(r.url) if "://" in r.url else r.url,
             "kind": r.kind, "primary": index == 0, "append_only": r.append_only,
             "copy_after_backup": r.copy_after_backup, "quota": r.quota}
            for index, r in enumerate(cfg.repositories)]


@bp.get("/drills")
@bp.input(DrillQuery, location="query", arg_name="query")
@bp.output(DrillPage)
@bp.doc(summary="List restore drill results", responses=[400])
@requires("viewer")
def list_drills(query: DrillQuery) -> dict[str, Any]:
    page = web_state().catalog.list_drill_results(site=query.site, ok=query.ok, page=query.page,
                                                  per_page=query.per_page)
    return page_dict(page)


@bp.post("/drills")
@bp.input(DrillIn, arg_name="body")
@bp.output(RunStarted, status_code=202)
@bp.doc(summary="Start a restore drill", responses=[400])
@requires("operator")
def start_drill(body: DrillIn) -> dict[str, Any]:
    state = web_state()
    cfg = state.config
    principal = current_principal()
    run_id = state.start_job("drill", cfg, {"snapshot": body.snapshot}, principal.actor if principal else "")
    audit("drill.start", cfg.site.name, run_id=run_id, snapshot=body.snapshot)
    return {"run_id": run_id}


@bp.get("/jobs")
@bp.doc(summary="The job kinds this installation runs, and the [schedule] jobs", responses={  # type: ignore[arg-type]  # full OpenAPI response objects
    200: {"description": "job names", "content": {"application/json": {"schema": {
        "type": "object", "properties": {"kinds": {"type": "array", "items": {"type": "string"}},
                                         "scheduled": {"type": "array", "items": {"type": "string"}}}}}}}})
@requires("viewer")
def list_jobs() -> dict[str, Any]:
    return {"kinds": list(job_kinds()), "scheduled": list(JOBS)}


@bp.get("/metrics/summary")
@bp.doc(summary="Health metrics for the dashboard", responses={  # type: ignore[arg-type]  # full OpenAPI response objects
    200: {"description": "metrics per site", "content": {"application/json": {"schema": {"type": "object"}}}}})
@requires("viewer")
def metrics_summary() -> dict[str, Any]:
    state = web_state()
    return metrics_json(collect_metrics(state.catalog, state.config, state.measure))


@bp.get("/audit")
@bp.input(AuditQuery, location="query", arg_name="query")
@bp.output(AuditPage)
@bp.doc(summary="The audit log, newest first", responses=[400])
@requires("viewer")
def list_audit(query: AuditQuery) -> dict[str, Any]:
    page = web_state().catalog.list_audit(actor=query.actor, action=query.action, target=query.target,
                                          since=query.since, until=query.until, page=query.page,
                                          per_page=query.per_page)
    return page_dict(page)


@bp.get("/health")
@bp.output(HealthOut)
@bp.doc(summary="Liveness and catalog reachability (no credentials needed)")
@public
def health() -> dict[str, Any]:
    try:
        web_state().catalog.list_runs(per_page=1)
        catalog_ok = True
    except Exception:
        catalog_ok = False
    return {"status": "ok" if catalog_ok else "degraded", "version": __version__, "catalog": catalog_ok}


@metrics_bp.get("/metrics")
@metrics_bp.doc(summary="Prometheus metrics (public only with [web] public_metrics)", responses={  # type: ignore[arg-type]  # full OpenAPI response objects
    200: {"description": "Prometheus text format", "content": {"text/plain": {"schema": {"type": "string"}}}}})
@public_if_metrics_public
def prometheus() -> Response:
    state = web_state()
    body = render_prometheus(collect_metrics(state.catalog, state.config, state.measure))
    return Response(body, mimetype="text/plain", headers={"Content-Type": "text/plain; version=0.0.4"})

