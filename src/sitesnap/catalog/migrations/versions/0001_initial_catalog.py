"""Initial catalog: backup records and configs, runs, audit, alert states, drills.

Revision ID: 0001
Revises:
Create Date: 2026-11-25

Frozen: it does not import the models, so later model changes cannot alter
what this revision creates.  Times are naive UTC (microseconds on MySQL).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _time(name: str, nullable: bool = False) -> sa.Column[object]:
    kind = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
    return sa.Column(name, kind, nullable=nullable)


def _long_text(name: str) -> sa.Column[object]:
    kind = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")
    return sa.Column(name, kind, nullable=False)


def _str(name: str, length: int, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.String(length), nullable=nullable)


def _json(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.JSON(), nullable=False)


def _pk() -> sa.Column[object]:
    return sa.Column("id", sa.Integer(), autoincrement=True, nullable=False)


def _indexes(table: str, *columns: str) -> None:
    for column in columns:
        op.create_index(f"ix_{table}_{column}", table, [column])


def _create_backup_records() -> None:
    op.create_table(
        "backup_records", _pk(),
        _str("backup_id", 64), _str("site", 200), _str("backup_type", 20), _str("status", 20),
        _time("created_at"), _time("completed_at", nullable=True),
        _str("location", 500), _str("hostname", 200),
        sa.Column("file_size", sa.BigInteger(), nullable=True),
        sa.Column("compression_ratio", sa.Float(), nullable=True),
        sa.Column("dedup_ratio", sa.Float(), nullable=True),
        sa.Column("encryption_enabled", sa.Boolean(), nullable=False),
        _json("storage_providers"), _json("metadata"),
        sa.Column("duration", sa.Float(), nullable=True),
        _str("run_id", 36, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_backup_records"),
        sa.UniqueConstraint("backup_id", name="uq_backup_records_backup_id"),
    )
    _indexes("backup_records", "backup_type", "created_at", "run_id", "site", "status")


def _create_backup_configs() -> None:
    op.create_table(
        "backup_configs", _pk(),
        _str("site", 200), _long_text("config_toml"),
        sa.Column("version", sa.Integer(), nullable=False),
        _time("updated_at"), _str("updated_by", 200),
        sa.PrimaryKeyConstraint("id", name="pk_backup_configs"),
        sa.UniqueConstraint("site", name="uq_backup_configs_site"),
    )


def _create_runs() -> None:
    op.create_table(
        "runs",
        _str("id", 36), _str("kind", 20), _str("site", 200), _str("repository", 500),
        _str("status", 20), _time("created_at"), _time("started_at", nullable=True),
        _time("finished_at", nullable=True), _json("progress"), _long_text("log"),
        _str("error_code", 64, nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        _json("result"), _str("triggered_by", 20), _str("actor", 200), _str("worker", 200),
        _str("host", 200), sa.Column("pid", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
    )
    _indexes("runs", "created_at", "kind", "site", "status")


def _create_audit_events() -> None:
    op.create_table(
        "audit_events", _pk(),
        _time("time"), _str("actor", 200), _str("action", 100), _str("target", 500),
        _str("source_ip", 45), _json("details"),
        sa.PrimaryKeyConstraint("id", name="pk_audit_events"),
    )
    _indexes("audit_events", "action", "actor", "time")


def _create_alert_states() -> None:
    op.create_table(
        "alert_states", _pk(),
        _str("site", 200), _str("rule", 100), _str("state", 20), _time("since"),
        _time("last_sent", nullable=True), _json("details"),
        sa.PrimaryKeyConstraint("id", name="pk_alert_states"),
        sa.UniqueConstraint("site", "rule", name="uq_alert_states_site_rule"),
    )


def _create_drill_results() -> None:
    op.create_table(
        "drill_results", _pk(),
        _str("run_id", 36, nullable=True), _str("site", 200), _str("snapshot_id", 64),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("rto_seconds", sa.Float(), nullable=True),
        _json("checks"), _time("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_drill_results"),
    )
    _indexes("drill_results", "created_at", "run_id", "site")


def upgrade() -> None:
    """The six tables, in this order, each with its indexes."""
    _create_backup_records()
    _create_backup_configs()
    _create_runs()
    _create_audit_events()
    _create_alert_states()
    _create_drill_results()


def downgrade() -> None:
    for table in ("drill_results", "alert_states", "audit_events", "runs", "backup_configs",
                  "backup_records"):
        op.drop_table(table)
