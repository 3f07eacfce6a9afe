"""What :func:`sitesnap.engine.retention.plan_retention` decides: per group, per snapshot, with reasons.

Plain values, shown by ``forget --dry-run`` and the console and executed by
:mod:`sitesnap.engine.forget`; nothing here decides anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sitesnap.engine.retention import RetentionPolicy, SnapshotMeta

__all__ = ["Decision", "GroupPlan", "RetentionPlan"]


@dataclass(frozen=True)
class Decision:
    """Keep or forget one snapshot; ``reasons`` is empty exactly when forgotten."""

    snapshot: SnapshotMeta
    keep: bool
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class GroupPlan:
    """The decisions of one group, newest snapshot first."""

    key: tuple[tuple[str, str], ...]
    decisions: tuple[Decision, ...]


@dataclass(frozen=True)
class RetentionPlan:
    """The outcome of :func:`plan_retention`; executing it is the engine's job."""

    policy: RetentionPolicy
    now: datetime
    groups: tuple[GroupPlan, ...]

    @property
    def decisions(self) -> list[Decision]:
        return [d for g in self.groups for d in g.decisions]

    @property
    def keep(self) -> list[SnapshotMeta]:
        return [d.snapshot for d in self.decisions if d.keep]

    @property
    def forget(self) -> list[SnapshotMeta]:
        return [d.snapshot for d in self.decisions if not d.keep]

    def to_dict(self) -> dict[str, Any]:
        """JSON shape for ``forget --json`` and the API."""
        return {
            "now": self.now.isoformat(),
            "policy": self.policy.to_dict(),
            "groups": [
                {
                    "key": dict(g.key),
                    "decisions": [
                        {"id": d.snapshot.id, "time": d.snapshot.time.isoformat(),
                         "type": d.snapshot.type, "keep": d.keep, "reasons": list(d.reasons)}
                        for d in g.decisions
                    ],
                }
                for g in self.groups
            ],
        }
