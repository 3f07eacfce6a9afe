"""Partial-recovery fixtures: real databases, shared with the source tests."""

from __future__ import annotations

from tests.sources.conftest import my_db, pg_db  # noqa: F401 - fixtures re-exported
