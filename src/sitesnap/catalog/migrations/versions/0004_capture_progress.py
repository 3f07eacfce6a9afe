"""Capture progress: how far each continuous source's capture has shipped.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04

Frozen like 0001: it does not import the models.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _time(name: str, *, nullable: bool) -> sa.Column[object]:
    kind = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
    return sa.Column(name, kind, nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "capture_progress",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site", sa.String(200), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("generation", sa.String(64), nullable=False),
        _time("last_shipped_at", nullable=True), _time("oldest_restorable_at", nullable=True),
        sa.Column("segments_total", sa.BigInteger(), nullable=False),
        _time("reported_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_capture_progress"),
        sa.UniqueConstraint("site", "source", name="uq_capture_progress_site_source"),
    )


def downgrade() -> None:
    op.drop_table("capture_progress")
