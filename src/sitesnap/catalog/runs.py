"""Runs: each backup, restore, copy, prune, check, drill or forget, from start to finish.

A run is recorded ``running`` (or ``queued`` for a worker), gets progress and
log lines while it works, and is closed once as completed, failed or
cancelled.  A missing run raises :class:`RecordNotFound`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from sitesnap.catalog.database import redact_url
from sitesnap.catalog.models import Run
from sitesnap.catalog.store import FINAL_STATUSES, RUN_KINDS, RUN_STATUSES, TRIGGERS, Store, between, check
from sitesnap.catalog.views import Page, RunInfo, from_row
from sitesnap.errors import RecordNotFound, SitesnapError

__all__ = ["MAX_LOG_CHARS", "RunLog"]

MAX_LOG_CHARS = 200_000


class RunLog(Store):
    """Recording runs and reading them back."""

    def start_run(
        self, kind: str, *, site: str = "", repository: str = "", triggered_by: str = "cli",
        actor: str = "", status: str = "running", worker: str = "", host: str = "",
        pid: int | None = None, run_id: str | None = None,
    ) -> RunInfo:
        """Record a new run, ``running`` now or ``queued`` for a worker to start."""
        check(kind, RUN_KINDS, "run kind")
        check(triggered_by, TRIGGERS, "trigger")
        check(status, ("queued", "running"), "starting status")
        now = self._clock()
        run = Run(id=run_id or str(uuid.uuid4()), kind=kind, site=site,
                  repository=redact_url(repository) if "://" in repository else repository,
                  status=status, created_at=now, started_at=now if status == "running" else None,
                  progress={}, log="", result={}, triggered_by=triggered_by, actor=actor,
                  worker=worker, host=host, pid=pid)
        with self._write() as session:
            session.add(run)
        return from_row(RunInfo, run)

    def mark_run_started(self, run_id: str, *, worker: str = "", host: str = "",
                         pid: int | None = None) -> None:
        """A queued run is now running on ``worker``/``host``/``pid``."""
        self._update_run(run_id, status="running", started_at=self._clock(), worker=worker,
                         host=host, pid=pid)

    def update_run_progress(self, run_id: str, progress: Mapping[str, Any]) -> None:
        """Store the latest progress event: one UPDATE; callers throttle."""
        self._update_run(run_id, progress=dict(progress))

    def _update_run(self, run_id: str, **values: Any) -> None:
        with self._write() as session:
            done = session.execute(update(Run).where(Run.id == run_id).values(**values))
            if done.rowcount == 0:  # type: ignore[attr-defined]
                raise RecordNotFound(f"run {run_id}")

    def append_run_log(self, run_id: str, text: str) -> None:
        """Append to the run's log, keeping only the last MAX_LOG_CHARS characters."""
        with self._write() as session:
            run = session.get(Run, run_id)
            if run is None:
                raise RecordNotFound(f"run {run_id}")
            log = run.log + text
            if len(log) > MAX_LOG_CHARS:
                log = "[earlier lines dropped]\n" + log[-MAX_LOG_CHARS:]
            run.log = log

    def finish_run(self, run_id: str, status: str, result: Mapping[str, Any] | None = None,
                   error: BaseException | str | None = None) -> RunInfo:
        """Close a run as completed, failed or cancelled, with its result or error."""
        check(status, FINAL_STATUSES, "final status")
        values: dict[str, Any] = {"status": status, "finished_at": self._clock()}
        if result is not None:
            values["result"] = dict(result)
        if isinstance(error, SitesnapError):
            values.update(error_code=error.code, error_message=error.message)
        elif isinstance(error, BaseException):
            values.update(error_code=type(error).__name__, error_message=str(error))
        elif error is not None:
            values.update(error_code="error", error_message=error)
        self._update_run(run_id, **values)
        run = self.get_run(run_id)
        assert run is not None
        return run

    def get_run(self, run_id: str) -> RunInfo | None:
        with self._read() as session:
            run = session.get(Run, run_id)
            return None if run is None else from_row(RunInfo, run)

    def list_runs(
        self, *, site: str | None = None, kind: str | None = None, status: str | None = None,
        repository: str | None = None, since: datetime | None = None,
        until: datetime | None = None, page: int = 1, per_page: int = 50,
    ) -> Page[RunInfo]:
        """Runs newest first, filtered on any of the given fields."""
        check(kind, RUN_KINDS, "run kind")
        check(status, RUN_STATUSES, "run status")
        query = select(Run).order_by(Run.created_at.desc(), Run.id)
        for column, value in ((Run.site, site), (Run.kind, kind), (Run.status, status),
                              (Run.repository, repository)):
            if value is not None:
                query = query.where(column == value)
        query = between(query, Run.created_at, since, until)
        rows, total = self._page(query, page, per_page)
        return Page([from_row(RunInfo, r) for r in rows], total, page, per_page)
