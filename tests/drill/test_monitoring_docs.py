"""docs/monitoring.md names every metric, rule and monitoring command there is."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sitesnap.runtime.alerts import CaptureState, RuleId
from sitesnap.runtime.metrics import MetricsSnapshot, RepositoryStats, SiteMetrics, SourceSize, build_registry

DOC = Path(__file__).resolve().parents[2] / "docs" / "monitoring.md"


def test_every_metric_is_documented() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    full = SiteMetrics("s", 1.0, 1.0, 1.0, now, now, 1.0, 1.0, (1.0,), (1.0,), (SourceSize("a", 1),),
                       (RepositoryStats("r", 1, 2, 3, 1.5, 1.5),), (CaptureState("c", now, now, now, 4),))
    names = {family.name for family in build_registry(MetricsSnapshot(now, (full,))).collect()}
    assert len(names) == 19
    text = DOC.read_text(encoding="utf-8")
    assert [n for n in sorted(names) if f"`{n}`" not in text] == []


def test_every_rule_and_command_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert [r.value for r in RuleId if f"`{r.value}`" not in text] == []
    for command in ("sitesnap -c sitesnap.toml drill", "sitesnap -c sitesnap.toml status", "sitesnap alert test",
                    "alert check", "--keep", "--read-data-subset", "--json"):
        assert command in text, command
