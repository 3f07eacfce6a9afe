"""``/api/v1/runs``: recorded runs, one run with its latest progress, and its live event stream."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint
from flask import Response, current_app

from sitesnap.errors import RecordNotFound
from sitesnap.web.auth import requires
from sitesnap.web.events import run_events
from sitesnap.web.routes.backups import page_dict
from sitesnap.web.schemas import RunOut, RunPage, RunQuery
from sitesnap.web.state import web_state

__all__ = ["bp"]

bp = APIBlueprint("runs", __name__, url_prefix="/api/v1/runs", tag="Runs")


@bp.get("")
@bp.input(RunQuery, location="query", arg_name="query")
@bp.output(RunPage)
@bp.doc(summary="List runs", responses=[400])
@requires("viewer")
def list_runs(query: RunQuery) -> dict[str, Any]:
    page = web_state().catalog.list_runs(site=query.site, kind=query.kind, status=query.status,
                                         since=query.since, until=query.until, page=query.page,
                                         per_page=query.per_page)
    return page_dict(page)


@bp.get("/<run_id>")
@bp.output(RunOut)
@bp.doc(summary="Get a run with its latest progress (for polling)", responses=[404])
@requires("viewer")
def get_run(run_id: str) -> dict[str, Any]:
    run = web_state().catalog.get_run(run_id)
    if run is None:
        raise RecordNotFound(f"run {run_id}")
    return run.to_dict()


@bp.get("/<run_id>/events")
@bp.doc(summary="Follow a run: server-sent events until it ends", responses={  # type: ignore[arg-type]  # full OpenAPI response objects
    200: {"description": "an event stream: progress, status, end",
          "content": {"text/event-stream": {"schema": {
              "type": "object", "required": ["data"],
              "properties": {"event": {"enum": ["status", "progress", "end"]},
                             "data": {"type": "string", "description": "JSON: the status, progress or run"},
                             "id": {"type": "string"}, "retry": {"type": "integer"}}}}}},
    404: "no such run"})
@requires("viewer")
def run_event_stream(run_id: str) -> Response:
    catalog = web_state().catalog
    if catalog.get_run(run_id) is None:
        raise RecordNotFound(f"run {run_id}")
    poll = float(current_app.config.get("SITESNAP_SSE_POLL", 0.5))
    response = Response(run_events(catalog, run_id, poll=poll), mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Accel-Buffering"] = "no"  # nginx: do not buffer the stream
    return response
