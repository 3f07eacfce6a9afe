"""``[schedule]`` and ``[retention]``: when jobs run and what ``forget`` keeps.

The defaults are the seed's: incremental every 6 hours, full on Sunday at
02:00, prune daily at 03:00, a data check daily at 04:00 and a restore drill
on Saturday at 05:00; full snapshots kept 3 months, incremental 1 month,
realtime 7 days, pre-restore 30 days, manual snapshots until deleted by
hand.  The GFS rules (``keep_daily`` ...) add to that; a snapshot is kept when
any rule keeps it.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import Field, field_validator

from sitesnap.config.base import ConfigModel
from sitesnap.config.cron import CronSpec, parse_cron
from sitesnap.config.fields import Cron, Duration, KeepFor

__all__ = ["JOBS", "Retention", "Schedule"]

JOBS = ("incremental", "full", "prune", "check", "drill")
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)%")

KeepCount = Annotated[int, Field(ge=-1)]
GroupKey = Literal["site", "hostname", "paths", "tags"]
_DEFAULT_GROUP_BY: tuple[GroupKey, ...] = ("site", "hostname", "paths")


class Schedule(ConfigModel):
    """Cron expressions (site time zone) per job; ``"off"`` disables one."""

    doc_table = "[schedule]"

    incremental: Cron = "0 */6 * * *"
    full: Cron = "0 2 * * 0"
    prune: Cron = "0 3 * * *"
    check: Cron = "0 4 * * *"
    drill: Cron = "0 5 * * 6"
    read_data_subset: str = "100%"

    @field_validator("read_data_subset")
    @classmethod
    def _check_subset(cls, value: str) -> str:
        match = _PERCENT.fullmatch(value.strip())
        if match is None or not 0 < float(match.group(1)) <= 100:
            raise ValueError(f'expected a percentage between 0 and 100, e.g. "10%", got {value!r}')
        return value.strip()

    def jobs(self) -> dict[str, CronSpec]:
        """The enabled jobs and their parsed schedules, in :data:`JOBS` order."""
        out: dict[str, CronSpec] = {}
        for job in JOBS:
            expression: str = getattr(self, job)
            if expression != "off":
                out[job] = parse_cron(expression)
        return out

    @property
    def read_data_fraction(self) -> float:
        """``read_data_subset`` as a fraction in (0, 1]."""
        return float(self.read_data_subset.rstrip("%")) / 100


class Retention(ConfigModel):
    """Maximum age per snapshot type plus restic-style keep rules."""

    doc_table = "[retention]"

    full: KeepFor = timedelta(days=90)
    incremental: KeepFor = timedelta(days=30)
    realtime: KeepFor = timedelta(days=7)
    snapshot: KeepFor = None
    pre_restore: KeepFor = Field(default=timedelta(days=30), alias="pre-restore")
    keep_last: KeepCount = 0
    keep_hourly: KeepCount = 0
    keep_daily: KeepCount = 0
    keep_weekly: KeepCount = 0
    keep_monthly: KeepCount = 0
    keep_yearly: KeepCount = 0
    keep_within: Duration | None = None
    keep_within_hourly: Duration | None = None
    keep_within_daily: Duration | None = None
    keep_within_weekly: Duration | None = None
    keep_within_monthly: Duration | None = None
    keep_within_yearly: Duration | None = None
    keep_tags: list[str] = Field(default_factory=list)
    group_by: list[GroupKey] = Field(default_factory=lambda: list(_DEFAULT_GROUP_BY))

    def max_age(self) -> dict[str, timedelta | None]:
        """Maximum age by snapshot type (None: kept until deleted by hand)."""
        return {
            "full": self.full,
            "incremental": self.incremental,
            "realtime": self.realtime,
            "snapshot": self.snapshot,
            "pre-restore": self.pre_restore,
        }
