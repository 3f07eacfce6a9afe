"""The restorable window of a continuous source, from its log segments (database-neutral).

A **generation** is a base segment (sequence 0) followed by log segments
1, 2, ... whose positions chain (``start_pos`` of one is ``end_pos`` of the one
before).  It is restorable from the base's time to the end time of the last
segment of its unbroken chain.  A missing or mismatched segment ends the
chain there: whatever follows is reported as a break, never replayed across.
Between two generations, the time after the older one's end and before the
newer one's base is a **gap**: no state in it can be restored exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import groupby
from typing import Any

from sitesnap.format.logseg import LogSegment

__all__ = ["Generation", "SourceTimeline", "build_timelines"]


@dataclass
class Generation:
    """One base and the chain of log segments that continues it without a break."""

    generation: bytes
    base: LogSegment
    chain: list[LogSegment] = field(default_factory=list)  # log segments, sequence 1..n
    broken: str = ""  # why the chain stops before later segments (empty when it does not)

    @property
    def oldest_ns(self) -> int:
        return self.base.end_time_ns

    @property
    def newest_ns(self) -> int:
        return self.chain[-1].end_time_ns if self.chain else self.base.end_time_ns

    def covers(self, time_ns: int) -> bool:
        return self.oldest_ns <= time_ns <= self.newest_ns

    def to_json(self) -> dict[str, Any]:
        return {"generation": self.generation.hex(), "oldest_ns": self.oldest_ns, "newest_ns": self.newest_ns,
                "segments": 1 + len(self.chain), "broken": self.broken or None}


@dataclass
class SourceTimeline:
    """Every generation of one source, oldest base first, and the gaps between them."""

    source: str
    generations: list[Generation] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)  # generations without a readable base

    @property
    def oldest_ns(self) -> int | None:
        return self.generations[0].oldest_ns if self.generations else None

    @property
    def newest_ns(self) -> int | None:
        return max(g.newest_ns for g in self.generations) if self.generations else None

    def gaps(self) -> list[tuple[int, int]]:
        """(from, to) nanosecond ranges that no generation covers, between the oldest and newest time."""
        out: list[tuple[int, int]] = []
        reach: int | None = None
        for gen in self.generations:
            if reach is not None and gen.oldest_ns > reach:
                out.append((reach, gen.oldest_ns))
            reach = gen.newest_ns if reach is None else max(reach, gen.newest_ns)
        return out

    def generation_at(self, time_ns: int) -> Generation | None:
        """The newest generation whose window holds ``time_ns``."""
        found = [g for g in self.generations if g.covers(time_ns)]
        return found[-1] if found else None

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "oldest_ns": self.oldest_ns, "newest_ns": self.newest_ns,
                "generations": [g.to_json() for g in self.generations],
                "gaps": [{"from_ns": a, "to_ns": b} for a, b in self.gaps()], "orphans": self.orphans}


def _chain(base: LogSegment, logs: list[LogSegment]) -> Generation:
    """Follow sequence numbers and positions from the base; stop at the first break."""
    gen = Generation(base.generation, base)
    by_seq: dict[int, LogSegment] = {}
    for seg in logs:
        by_seq.setdefault(seg.sequence, seg)  # a duplicate (a rerun's copy) holds the same frames
    prev, seq = base, 1
    while seq in by_seq:
        seg = by_seq[seq]
        if seg.start_pos != prev.end_pos or seg.start_time_ns < prev.end_time_ns:
            gen.broken = f"segment {seq} does not continue segment {seq - 1}"
            return gen
        gen.chain.append(seg)
        prev, seq = seg, seq + 1
    later = [s for s in by_seq if s > seq]
    if later:
        gen.broken = f"segment {seq} is missing ({len(later)} later segment(s) unusable)"
    return gen


def build_timelines(segments: list[LogSegment]) -> dict[str, SourceTimeline]:
    """Per source, its generations (ordered by base time) and orphaned generation IDs."""
    out: dict[str, SourceTimeline] = {}
    keyed = sorted(segments, key=lambda s: (s.source, s.generation, s.sequence))
    for (source, generation), group in groupby(keyed, key=lambda s: (s.source, s.generation)):
        timeline = out.setdefault(source, SourceTimeline(source))
        members = list(group)
        bases = [s for s in members if s.is_base]
        if not bases:
            timeline.orphans.append(generation.hex())
            continue
        timeline.generations.append(_chain(bases[0], [s for s in members if not s.is_base]))
    for timeline in out.values():
        timeline.generations.sort(key=lambda g: (g.oldest_ns, g.newest_ns))
    return out
