"""Regenerate the retention golden files: ``python tests/engine/golden/generate_retention.py``.

The inputs of every case are defined here; the expected decisions are written
by the current code and must be reviewed by hand before committing (``git
diff tests/engine/golden``): a golden file states what is right, not merely
what the code did.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2] / "src"))

from sitesnap.engine.retention import (  # noqa: E402
    RetentionPolicy,
    SnapshotSummary,
    plan_retention,
)

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def at(text: str) -> str:
    """``"11-20 09:00"`` (2026), or a full ISO time, as an ISO UTC string."""
    if len(text) == 11:
        text = f"2026-{text}"
    return datetime.fromisoformat(text).replace(tzinfo=UTC).isoformat()


def snap(sid: str, time: str, kind: str = "incremental", **extra: Any) -> dict[str, Any]:
    return {"id": sid, "time": at(time), "type": kind, "tags": [], "site": "blog",
            "hostname": "web1", "paths": ["db/main.sqlite", "files/uploads"], **extra}


def ago(days: float = 0, hours: float = 0) -> str:
    return (NOW - timedelta(days=days, hours=hours)).isoformat()


GFS_ONLY = {"max_age": {"incremental": "1h"}}  # type rule keeps only the newest hour

CASES: dict[str, dict[str, Any]] = {
    "seed_table": {
        "description": "The seed's table by type, at both sides of each limit, anchored to "
                       "the newest snapshot (1 h before now).",
        "policy": {},
        "snapshots": [
            snap("newest", ago(hours=1)),
            snap("full-89d", ago(89, 1), "full"),
            snap("full-90d", ago(90, 1), "full"),
            snap("full-91d", ago(91, 1), "full"),
            snap("incr-29d", ago(29, 1)),
            snap("incr-30d", ago(30, 1)),
            snap("incr-31d", ago(31, 1)),
            snap("realtime-6d", ago(6, 1), "realtime"),
            snap("realtime-7d1h", ago(7, 2), "realtime"),
            snap("prerestore-29d", ago(29, 1), "pre-restore"),
            snap("prerestore-31d", ago(31, 1), "pre-restore"),
            snap("manual-400d", ago(400), "snapshot"),
        ],
    },
    "custom_table": {
        "description": "An overridden table: incremental 14d, full without limit; "
                       "types not overridden keep the seed's limits.",
        "policy": {"max_age": {"incremental": "14d", "full": None}},
        "snapshots": [
            snap("newest", ago(hours=2)),
            snap("incr-13d", ago(13)),
            snap("incr-15d", ago(15)),
            snap("full-500d", ago(500), "full"),
            snap("realtime-8d", ago(8), "realtime"),
        ],
    },
    "keep_last": {
        "description": "keep_last 3 of six snapshots two hours apart.",
        "policy": {**GFS_ONLY, "keep_last": 3},
        "snapshots": [snap(f"s{i}", ago(hours=2 * i)) for i in range(6)],
    },
    "keep_daily": {
        "description": "keep_daily 3: newest of each of the 3 newest days that have snapshots; "
                       "days without snapshots do not count.",
        "policy": {**GFS_ONLY, "keep_daily": 3},
        "snapshots": [
            snap("d20-0900", "11-20 09:00"), snap("d20-0300", "11-20 03:00"),
            snap("d19-2100", "11-19 21:00"), snap("d19-1000", "11-19 10:00"),
            snap("d17-0800", "11-17 08:00"), snap("d16-0800", "11-16 08:00"),
        ],
    },
    "keep_daily_shanghai": {
        "description": "The same snapshots with days counted in Asia/Shanghai (UTC+8): "
                       "11-19 21:00Z falls on 11-20 there.",
        "policy": {**GFS_ONLY, "keep_daily": 3, "tz": "Asia/Shanghai"},
        "snapshots": [
            snap("d20-0900", "11-20 09:00"), snap("d20-0300", "11-20 03:00"),
            snap("d19-2100", "11-19 21:00"), snap("d19-1000", "11-19 10:00"),
            snap("d17-0800", "11-17 08:00"), snap("d16-0800", "11-16 08:00"),
        ],
    },
    "keep_daily_oldest": {
        "description": "keep_daily 10 with counts left at the end also keeps the oldest "
                       "snapshot (restic), to keep history as long as possible.",
        "policy": {**GFS_ONLY, "keep_daily": 10},
        "snapshots": [
            snap("d20-0900", "11-20 09:00"), snap("d20-0300", "11-20 03:00"),
            snap("d19-2100", "11-19 21:00"), snap("d19-1800", "11-19 18:00"),
            snap("d19-1000", "11-19 10:00"),
        ],
    },
    "keep_weekly_iso_year": {
        "description": "keep_weekly 2 across the ISO year boundary: 2025-12-29..2026-01-04 "
                       "is 2026-W01.",
        "policy": {**GFS_ONLY, "keep_weekly": 2},
        "snapshots": [
            snap("w-0103", "2026-01-03 10:00"), snap("w-1230", "2025-12-30 10:00"),
            snap("w-1228", "2025-12-28 10:00"), snap("w-1222", "2025-12-22 10:00"),
            snap("w-1221", "2025-12-21 10:00"),
        ],
    },
    "keep_monthly_yearly": {
        "description": "keep_monthly 3 and keep_yearly 3, each counting on its own.",
        "policy": {**GFS_ONLY, "keep_monthly": 3, "keep_yearly": 3},
        "snapshots": [
            snap("m-2026-11-15", "2026-11-15 10:00"), snap("m-2026-10-31", "2026-10-31 10:00"),
            snap("m-2026-10-01", "2026-10-01 10:00"), snap("m-2026-09-15", "2026-09-15 10:00"),
            snap("m-2025-12-31", "2025-12-31 10:00"), snap("m-2025-06-01", "2025-06-01 10:00"),
            snap("m-2024-12-31", "2024-12-31 10:00"), snap("m-2024-01-10", "2024-01-10 10:00"),
        ],
    },
    "keep_all_daily": {
        "description": "keep_daily -1 keeps the newest snapshot of every day.",
        "policy": {**GFS_ONLY, "keep_daily": -1},
        "snapshots": [
            snap("d20-0900", "11-20 09:00"), snap("d20-0300", "11-20 03:00"),
            snap("d10-1200", "11-10 12:00"), snap("d10-0100", "11-10 01:00"),
            snap("d01-0000", "2025-01-01 00:00"),
        ],
    },
    "hourly_and_within": {
        "description": "keep_hourly 2, keep_within 2d and keep_within_daily 5d, measured "
                       "from the newest snapshot (11-20 11:30).",
        "policy": {**GFS_ONLY, "keep_hourly": 2, "keep_within": "2d",
                   "keep_within_daily": "5d"},
        "snapshots": [
            snap("h-20-1130", "11-20 11:30"), snap("h-20-1100", "11-20 11:00"),
            snap("h-20-1000", "11-20 10:00"), snap("h-20-0910", "11-20 09:10"),
            snap("h-18-1200", "11-18 12:00"), snap("h-18-1100", "11-18 11:00"),
            snap("h-16-0800", "11-16 08:00"), snap("h-15-1200", "11-15 12:00"),
            snap("h-15-1000", "11-15 10:00"),
        ],
    },
    "keep_tags": {
        "description": "keep_tags ['keep', 'release,prod']: a snapshot needs every tag of "
                       "one entry.",
        "policy": {**GFS_ONLY, "keep_tags": ["keep", "release,prod"]},
        "snapshots": [
            snap("newest", ago(hours=1)),
            snap("t-keep", ago(3), tags=["keep"]),
            snap("t-release", ago(4), tags=["release"]),
            snap("t-release-prod", ago(5), tags=["prod", "release"]),
            snap("t-prod", ago(6), tags=["prod"]),
            snap("t-none", ago(7)),
        ],
    },
    "groups": {
        "description": "Groups by site, host name and paths: each group keeps its newest; "
                       "a snapshot dated after now does not move the age anchor.",
        "policy": {**GFS_ONLY, "keep_last": 2},
        "snapshots": [
            snap("a1-1", ago(1)), snap("a1-2", ago(2)), snap("a1-3", ago(3)),
            snap("a2-1", ago(10), hostname="web2"), snap("a2-2", ago(11), hostname="web2"),
            snap("a2-3", ago(12), hostname="web2"),
            snap("af-1", ago(1), paths=["files/uploads"]),
            snap("b-1", ago(hours=-3), site="shop"), snap("b-2", ago(hours=0.5), site="shop"),
            snap("b-3", ago(hours=2), site="shop"), snap("b-4", ago(5), site="shop"),
        ],
    },
}


def expected(case: dict[str, Any]) -> list[dict[str, Any]]:
    snapshots = [
        SnapshotSummary(s["id"], datetime.fromisoformat(s["time"]), s["type"], tuple(s["tags"]),
                        s["site"], s["hostname"], tuple(s["paths"]))
        for s in case["snapshots"]
    ]
    plan = plan_retention(snapshots, RetentionPolicy.from_dict(case["policy"]), NOW)
    return [
        {"key": dict(g.key),
         "decisions": [{"id": d.snapshot.id, "keep": d.keep, "reasons": list(d.reasons)}
                       for d in g.decisions]}
        for g in plan.groups
    ]


def main() -> None:
    for name, case in CASES.items():
        data = {"description": case["description"], "now": NOW.isoformat(),
                "policy": case["policy"], "snapshots": case["snapshots"],
                "expected": expected(case)}
        path = HERE / f"retention_{name}.json"
        path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
        print(path.name)


if __name__ == "__main__":
    main()
