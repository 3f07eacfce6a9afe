"""Prometheus exposition and console JSON built from a MetricsSnapshot."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from sitesnap.runtime.metrics import (
    MetricsSnapshot,
    RepositoryStats,
    SiteMetrics,
    SourceSize,
    metrics_json,
    render_prometheus,
    success_rate,
)

NOW = datetime(2024, 6, 1, 12, 0, 30, tzinfo=UTC)

BLOG = SiteMetrics(
    site="blog",
    success_rate_24h=0.75,
    success_rate_7d=0.9,
    success_rate_30d=0.95,
    last_success=NOW - timedelta(hours=2, seconds=5),
    last_drill_success=NOW - timedelta(days=3),
    last_backup_duration=42.5,
    last_restore_duration=180.25,
    backup_durations=(42.5, 40.0, 700.0, 3.0),
    restore_durations=(180.25,),
    sources=(SourceSize("uploads", 485_000_000), SourceSize("db/main", 70_000_000)),
    repositories=(
        RepositoryStats("local", used_bytes=300_000_000, quota_bytes=1_000_000_000,
                        snapshot_count=37, dedup_ratio=4.5, compression_ratio=1.8),
        RepositoryStats("s3", used_bytes=310_000_000, snapshot_count=36),
    ),
)
SHOP = SiteMetrics(site="shop")  # nothing known yet


def samples(snapshot: MetricsSnapshot) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = render_prometheus(snapshot).decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def get(data: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str,
        **labels: str) -> float | None:
    return data.get((name, frozenset(labels.items())))


def test_values_round_trip_through_the_text_parser() -> None:
    data = samples(MetricsSnapshot(NOW, (BLOG, SHOP)))
    assert get(data, "sitesnap_backup_success_ratio", site="blog", window="24h") == 0.75
    assert get(data, "sitesnap_backup_success_ratio", site="blog", window="7d") == 0.9
    assert get(data, "sitesnap_backup_success_ratio", site="blog", window="30d") == 0.95
    assert get(data, "sitesnap_last_success_timestamp_seconds", site="blog") == (
        BLOG.last_success.timestamp())  # type: ignore[union-attr]
    assert get(data, "sitesnap_seconds_since_last_success", site="blog") == 7205.0
    assert get(data, "sitesnap_seconds_since_last_drill_success", site="blog") == 3 * 86400
    assert get(data, "sitesnap_last_drill_success_timestamp_seconds", site="blog") == (
        BLOG.last_drill_success.timestamp())  # type: ignore[union-attr]
    assert get(data, "sitesnap_last_backup_duration_seconds", site="blog") == 42.5
    assert get(data, "sitesnap_last_restore_duration_seconds", site="blog") == 180.25
    assert get(data, "sitesnap_source_size_bytes", site="blog", source="uploads") == 485_000_000
    assert get(data, "sitesnap_source_size_bytes", site="blog", source="db/main") == 70_000_000
    local = {"site": "blog", "repository": "local"}
    assert get(data, "sitesnap_repository_used_bytes", **local) == 300_000_000
    assert get(data, "sitesnap_repository_quota_bytes", **local) == 1_000_000_000
    assert get(data, "sitesnap_repository_snapshots", **local) == 37
    assert get(data, "sitesnap_repository_dedup_ratio", **local) == 4.5
    assert get(data, "sitesnap_repository_compression_ratio", **local) == 1.8
    s3 = {"site": "blog", "repository": "s3"}
    assert get(data, "sitesnap_repository_used_bytes", **s3) == 310_000_000
    assert get(data, "sitesnap_repository_snapshots", **s3) == 36


def test_duration_histogram_matches_the_recent_runs() -> None:
    data = samples(MetricsSnapshot(NOW, (BLOG,)))
    name = "sitesnap_backup_duration_seconds"
    assert get(data, name + "_count", site="blog") == 4
    assert get(data, name + "_sum", site="blog") == 42.5 + 40.0 + 700.0 + 3.0
    assert get(data, name + "_bucket", site="blog", le="1.0") == 0
    assert get(data, name + "_bucket", site="blog", le="5.0") == 1
    assert get(data, name + "_bucket", site="blog", le="60.0") == 3
    assert get(data, name + "_bucket", site="blog", le="600.0") == 3
    assert get(data, name + "_bucket", site="blog", le="1800.0") == 4
    assert get(data, name + "_bucket", site="blog", le="+Inf") == 4
    assert get(data, "sitesnap_restore_duration_seconds_count", site="blog") == 1
    assert get(data, "sitesnap_restore_duration_seconds_sum", site="blog") == 180.25


def test_unknown_values_are_absent_not_zero() -> None:
    data = samples(MetricsSnapshot(NOW, (BLOG, SHOP)))
    assert not [key for key in data if ("site", "shop") in key[1]]
    s3 = {"site": "blog", "repository": "s3"}
    assert get(data, "sitesnap_repository_quota_bytes", **s3) is None
    assert get(data, "sitesnap_repository_dedup_ratio", **s3) is None


def test_every_metric_is_prefixed_and_documented() -> None:
    text = render_prometheus(MetricsSnapshot(NOW, (BLOG,))).decode()
    families = list(text_string_to_metric_families(text))
    assert len(families) >= 15
    for family in families:
        assert family.name.startswith("sitesnap_")
        assert family.documentation
        for s in family.samples:
            assert {"site"} <= set(s.labels)


def test_fresh_registry_per_render_and_no_global_registration() -> None:
    before = set(REGISTRY._names_to_collectors)
    first = samples(MetricsSnapshot(NOW, (BLOG,)))
    changed = SiteMetrics(site="blog", last_backup_duration=1.0)
    second = samples(MetricsSnapshot(NOW, (changed,)))
    assert get(first, "sitesnap_last_backup_duration_seconds", site="blog") == 42.5
    assert get(second, "sitesnap_last_backup_duration_seconds", site="blog") == 1.0
    assert get(second, "sitesnap_backup_duration_seconds_count", site="blog") is None
    assert set(REGISTRY._names_to_collectors) == before
    assert not any(n.startswith("sitesnap_") for n in REGISTRY._names_to_collectors)


def test_naive_datetimes_are_utc() -> None:
    naive = SiteMetrics(site="blog", last_success=datetime(2024, 6, 1, 11, 0, 30))
    data = samples(MetricsSnapshot(NOW.replace(tzinfo=None), (naive,)))
    assert get(data, "sitesnap_last_success_timestamp_seconds", site="blog") == (
        datetime(2024, 6, 1, 11, 0, 30, tzinfo=UTC).timestamp())
    assert get(data, "sitesnap_seconds_since_last_success", site="blog") == 3600


def test_metrics_json_for_the_console() -> None:
    out = metrics_json(MetricsSnapshot(NOW, (BLOG, SHOP)))
    json.dumps(out)  # serialisable as is
    assert out["generated_at"] == NOW.isoformat()
    blog, shop = out["sites"]
    assert blog["success_rate"] == {"24h": 0.75, "7d": 0.9, "30d": 0.95}
    assert blog["seconds_since_last_success"] == 7205.0
    assert blog["last_drill_success"] == (NOW - timedelta(days=3)).isoformat()
    assert blog["backup_duration"] == {"last_seconds": 42.5,
                                       "recent_seconds": [42.5, 40.0, 700.0, 3.0],
                                       "median_seconds": 41.25}
    assert blog["sources"][0] == {"name": "uploads", "size_bytes": 485_000_000}
    assert blog["repositories"][0]["used_percent"] == 30.0
    assert blog["repositories"][1]["used_percent"] is None
    assert shop["success_rate"] == {"24h": None, "7d": None, "30d": None}
    assert shop["seconds_since_last_success"] is None
    assert shop["backup_duration"]["median_seconds"] is None


def test_success_rate_windows() -> None:
    outcomes = [
        (NOW - timedelta(hours=1), True),
        (NOW - timedelta(hours=5), False),
        (NOW - timedelta(hours=23), True),
        (NOW - timedelta(days=2), False),
        (NOW - timedelta(days=20), True),
        (NOW - timedelta(days=40), False),
        (NOW + timedelta(hours=1), False),  # from the future: ignored
    ]
    assert success_rate(outcomes, NOW, timedelta(hours=24)) == 2 / 3
    assert success_rate(outcomes, NOW, timedelta(days=7)) == 2 / 4
    assert success_rate(outcomes, NOW, timedelta(days=30)) == 3 / 5
    assert success_rate([], NOW, timedelta(days=1)) is None
