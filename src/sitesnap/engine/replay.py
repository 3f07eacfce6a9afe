"""Restore a continuous SQLite source to any second of its log stream, and show the window.

What is guaranteed (docs/continuous.md, "What a restore to T gives"): the
result is the database as it was after the last commit *shipped* at or
before T: every commit in it had committed by T, none committed after T
is in it.  A commit is shipped at the first poll after it (within the
capture interval), so a commit made within the last interval before T may
be missing.  T after the newest shipped commit is refused (nothing proves
what happened after it), as is T in a gap between generations.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sitesnap.capture.sqlite import WalPosition
from sitesnap.capture.sqlitereplay import FrameApplier, fsync_file, verify, write_base
from sitesnap.errors import RestoreError
from sitesnap.format.logseg import LogSegment
from sitesnap.repository import logstream
from sitesnap.repository.logtimeline import Generation, SourceTimeline, build_timelines
from sitesnap.repository.repository import Repository

__all__ = ["RestoredAt", "restore_source_at", "restore_sqlite_at", "source_timelines", "state_at", "to_datetime",
           "to_time_ns"]


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def to_datetime(time_ns: int) -> datetime:
    """The microsecond holding ``time_ns`` (datetimes have no nanoseconds)."""
    return _EPOCH + timedelta(microseconds=time_ns // 1000)


def to_time_ns(at: datetime) -> int:
    """The last nanosecond of the microsecond ``at`` names: a commit shipped within it is at or before ``at``."""
    if at.tzinfo is None:
        raise RestoreError(f"{at.isoformat()} has no time zone")
    return (at - _EPOCH) // _MICROSECOND * 1000 + 999


@dataclass
class RestoredAt:
    """The outcome of :func:`restore_source_at`."""

    source: str
    target: str
    generation: str
    state_ns: int  # the shipped time of the last commit applied (or of the base)
    commits: int
    integrity: str

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "target": self.target, "generation": self.generation,
                "state_time": to_datetime(self.state_ns).isoformat(), "commits_applied": self.commits,
                "integrity": self.integrity}


def source_timelines(repo: Repository, errors: list[str] | None = None) -> dict[str, SourceTimeline]:
    """Per continuous source, its restorable window, generations and gaps."""
    return build_timelines(logstream.load_segments(repo, errors=errors))


def _pick(timeline: SourceTimeline | None, source: str, at_ns: int) -> Generation:
    if timeline is None or not timeline.generations:
        raise RestoreError(f"source {source!r} has no continuous capture in this repository",
                           hint="Set continuous = true on the source and run 'sitesnap capture'.")
    at_us = at_ns // 1000  # a datetime names a microsecond: any nanosecond of it will do
    found = [g for g in timeline.generations if g.oldest_ns // 1000 <= at_us <= g.newest_ns // 1000]
    if found:
        return found[-1]
    oldest, newest = timeline.oldest_ns or 0, timeline.newest_ns or 0
    when = to_datetime(at_ns).isoformat()
    if at_ns > newest:
        raise RestoreError(f"{when} is after the newest captured commit of {source!r} "
                           f"({to_datetime(newest).isoformat()})",
                           hint="Restore to that time or earlier; see 'sitesnap timeline'.")
    if at_ns < oldest:
        raise RestoreError(f"{when} is before the oldest restorable time of {source!r} "
                           f"({to_datetime(oldest).isoformat()})", hint="See 'sitesnap timeline'.")
    raise RestoreError(f"{when} falls in a gap of the capture of {source!r}",
                       hint="Pick a time inside a generation; see 'sitesnap timeline'.")


def state_at(timeline: SourceTimeline | None, source: str, at: datetime) -> int:
    """The time (ns) of the state a restore of ``source`` to ``at`` gives: its last shipped commit at or before.

    Raises :class:`RestoreError` naming the restorable window when ``at`` is
    outside it (or in a gap).  Reads only segment headers: for any kind.
    """
    at_ns = to_time_ns(at)
    gen = _pick(timeline, source, at_ns)
    state_ns = gen.base.end_time_ns
    for seg in gen.chain:
        times = [c.time_ns for c in seg.commits if c.time_ns <= at_ns]
        if not times:
            break
        state_ns = max(times)
        if len(times) < len(seg.commits):
            break
    return state_ns


def _replay(repo: Repository, gen: Generation, at_ns: int, tmp: Path) -> tuple[int, int]:
    """Write base + commits up to ``at_ns`` into ``tmp``; returns (commits applied, state time)."""
    position = WalPosition.from_params(gen.base.params)
    if position is None:
        raise RestoreError(f"generation {gen.generation.hex()[:8]} has no SQLite parameters")
    state_ns = gen.base.end_time_ns
    with open(tmp, "w+b") as fh:
        write_base(fh, logstream.read_payload(repo, gen.base))
        applier = FrameApplier(fh, position.page_size)
        for seg in gen.chain:
            wanted = _commits_until(seg, at_ns)
            if wanted == 0:
                break
            applier.apply(logstream.read_payload(repo, seg), wanted)
            state_ns = seg.commits[wanted - 1].time_ns
            if wanted < len(seg.commits):
                break
        fsync_file(fh)
    return applier.commits_applied, state_ns


def _commits_until(seg: LogSegment, at_ns: int) -> int:
    return sum(1 for c in seg.commits if c.time_ns <= at_ns)


def restore_source_at(repo: Repository, source: str, at: datetime, target: str | os.PathLike[str], *,
                      overwrite: bool = False) -> RestoredAt:
    """Rebuild ``source`` as of ``at`` into the file ``target`` (temp file, integrity check, rename).

    The index must be loaded.  A target that exists is refused unless
    ``overwrite``; its stale ``-wal``/``-shm`` files are removed with it, or
    SQLite would replay them into the restored file.
    """
    at_ns = to_time_ns(at)
    gen = _pick(source_timelines(repo).get(source), source, at_ns)
    dest = Path(target)
    if dest.exists() and not overwrite:
        raise RestoreError(f"{dest} exists", hint="Choose a new target file, or allow overwriting it.")
    tmp = dest.with_name(f".{dest.name}.sitesnap-tmp")
    try:
        commits, state_ns = _replay(repo, gen, at_ns, tmp)
        integrity = verify(tmp)
        if integrity != "ok":
            raise RestoreError(f"the database rebuilt for {source!r} fails its integrity check: {integrity}")
        for suffix in ("-wal", "-shm", "-journal"):
            Path(f"{dest}{suffix}").unlink(missing_ok=True)
        os.replace(tmp, dest)
    finally:
        for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
            leftover.unlink(missing_ok=True)
    return RestoredAt(source, str(dest), gen.generation.hex(), state_ns, commits, integrity)


def restore_sqlite_at(repo: Repository, source_cfg: Any, at: datetime, target: str) -> RestoredAt:
    """The SQLite continuous kind's ``restore_at`` (``engine/continuous_kinds.py``): a new file ``target``."""
    return restore_source_at(repo, source_cfg.name, at, target)
