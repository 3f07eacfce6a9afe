"""What happened and what is set: the audit log, alert states, drill results, saved site configurations.

Audit events are only appended; alert states and configurations are
upserted per site (and rule); drill results are appended per drill.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError as DBIntegrityError

from sitesnap.catalog.models import AlertState, AuditEvent, BackupConfig, DrillResult
from sitesnap.catalog.store import ALERT_STATES, Store, between, check
from sitesnap.catalog.views import AlertInfo, AuditEntry, ConfigInfo, DrillInfo, Page, from_row

__all__ = ["History"]


class History(Store):
    """The audit log, alert states, drill results and site configurations."""

    def add_audit(self, actor: str, action: str, target: str = "", *, source_ip: str = "",
                  details: Mapping[str, Any] | None = None,
                  time: datetime | None = None) -> AuditEntry:
        """Append an audit event (never updated or deleted through this API)."""
        event = AuditEvent(time=time or self._clock(), actor=actor, action=action,
                           target=target, source_ip=source_ip, details=dict(details or {}))
        with self._write() as session:
            session.add(event)
        return from_row(AuditEntry, event)

    def list_audit(
        self, *, actor: str | None = None, action: str | None = None, target: str | None = None,
        since: datetime | None = None, until: datetime | None = None, page: int = 1,
        per_page: int = 50,
    ) -> Page[AuditEntry]:
        """Audit events newest first."""
        query = select(AuditEvent).order_by(AuditEvent.time.desc(), AuditEvent.id.desc())
        for attr, value in ((AuditEvent.actor, actor), (AuditEvent.action, action),
                            (AuditEvent.target, target)):
            if value is not None:
                query = query.where(attr == value)
        query = between(query, AuditEvent.time, since, until)
        rows, total = self._page(query, page, per_page)
        return Page([from_row(AuditEntry, r) for r in rows], total, page, per_page)

    # --- alert states ---------------------------------------------------------------

    def get_alert_state(self, site: str, rule: str) -> AlertInfo | None:
        with self._read() as session:
            row = session.scalar(select(AlertState).where(AlertState.site == site,
                                                          AlertState.rule == rule))
            return None if row is None else from_row(AlertInfo, row)

    def set_alert_state(self, site: str, rule: str, state: str, *,
                        details: Mapping[str, Any] | None = None,
                        last_sent: datetime | None = None) -> AlertInfo:
        """Set a rule's state; ``since`` moves only when the state changes."""
        check(state, ALERT_STATES, "alert state")
        now = self._clock()
        for attempt in (1, 2):
            try:
                with self._write() as session:
                    row = session.scalar(select(AlertState).where(AlertState.site == site,
                                                                  AlertState.rule == rule))
                    if row is None:
                        row = AlertState(site=site, rule=rule, state=state, since=now,
                                         details={})
                        session.add(row)
                    elif row.state != state:
                        row.state, row.since = state, now
                    if details is not None:
                        row.details = dict(details)
                    if last_sent is not None:
                        row.last_sent = last_sent
                return from_row(AlertInfo, row)
            except DBIntegrityError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def list_alert_states(self, *, site: str | None = None,
                          state: str | None = None) -> list[AlertInfo]:
        check(state, ALERT_STATES, "alert state")
        query = select(AlertState).order_by(AlertState.site, AlertState.rule)
        if site is not None:
            query = query.where(AlertState.site == site)
        if state is not None:
            query = query.where(AlertState.state == state)
        with self._read() as session:
            return [from_row(AlertInfo, r) for r in session.scalars(query)]

    # --- drills -----------------------------------------------------------------------

    def add_drill_result(self, site: str, snapshot_id: str, ok: bool, *,
                         rto_seconds: float | None = None,
                         checks: list[dict[str, Any]] | None = None,
                         run_id: str | None = None,
                         created_at: datetime | None = None) -> DrillInfo:
        row = DrillResult(site=site, snapshot_id=snapshot_id, ok=ok, rto_seconds=rto_seconds,
                          checks=list(checks or []), run_id=run_id,
                          created_at=created_at or self._clock())
        with self._write() as session:
            session.add(row)
        return from_row(DrillInfo, row)

    def list_drill_results(self, *, site: str | None = None, ok: bool | None = None,
                           page: int = 1, per_page: int = 50) -> Page[DrillInfo]:
        """Drill results newest first."""
        query = select(DrillResult).order_by(DrillResult.created_at.desc(), DrillResult.id.desc())
        if site is not None:
            query = query.where(DrillResult.site == site)
        if ok is not None:
            query = query.where(DrillResult.ok == ok)
        rows, total = self._page(query, page, per_page)
        return Page([from_row(DrillInfo, r) for r in rows], total, page, per_page)

    # --- site configuration -----------------------------------------------------------

    def get_config(self, site: str) -> ConfigInfo | None:
        with self._read() as session:
            row = session.scalar(select(BackupConfig).where(BackupConfig.site == site))
            return None if row is None else from_row(ConfigInfo, row)

    def save_config(self, site: str, config_toml: str, updated_by: str = "") -> ConfigInfo:
        """Store a site's TOML (validated by the caller); ``version`` counts saves."""
        for attempt in (1, 2):
            try:
                with self._write() as session:
                    row = session.scalar(select(BackupConfig).where(BackupConfig.site == site))
                    if row is None:
                        row = BackupConfig(site=site, version=0)
                        session.add(row)
                    row.config_toml, row.updated_by = config_toml, updated_by
                    row.updated_at, row.version = self._clock(), row.version + 1
                return from_row(ConfigInfo, row)
            except DBIntegrityError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def list_config_sites(self) -> list[str]:
        with self._read() as session:
            return list(session.scalars(select(BackupConfig.site).order_by(BackupConfig.site)))
