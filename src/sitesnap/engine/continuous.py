"""Continuous capture into a repository's log stream: the driver, and the SQLite kind's capture.

:class:`SourceCapture` joins a :class:`~sitesnap.capture.sqlite.SqliteTailer`
to the repository: it resumes the newest generation when the WAL provably
continues it, starts a new generation from a base copy otherwise, and turns
every batch of commits into a log segment (packs, index, then the segment:
``repository/logstream.py``), checkpointing the WAL only after the segment
is stored.  :func:`run_capture` drives all continuous sources of a site, whatever
their type, through the registry of continuous kinds
(``engine/continuous_kinds.py``) at an interval until asked to stop, and
ships once more before returning.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sitesnap.capture.sqlite import DEFAULT_WAL_LIMIT, Batch, Discontinuity, SqliteTailer, WalPosition
from sitesnap.engine.continuous_kinds import Capture, open_capture
from sitesnap.errors import UsageError
from sitesnap.format.logseg import BASE, LOG, Commit, LogSegment
from sitesnap.process import pid_alive
from sitesnap.repository import logstream
from sitesnap.repository.logtimeline import build_timelines
from sitesnap.repository.repository import Repository

__all__ = ["DEFAULT_INTERVAL", "CaptureStats", "ProgressReport", "SourceCapture", "continuous_sources",
           "open_sqlite_capture", "remove_stale_base_copies", "run_capture"]

DEFAULT_INTERVAL = 1.0
_BASE_PREFIX = "sitesnap-base-"


def remove_stale_base_copies(directory: str | None = None) -> int:
    """Delete base copies left in the temp directory by captures that were killed; returns how many.

    A copy's directory is named after the process that made it: one whose
    process no longer exists is removed, any other is left alone.
    """
    root = Path(directory or tempfile.gettempdir())
    removed = 0
    for entry in root.glob(f"{_BASE_PREFIX}*-*"):
        pid_text = entry.name[len(_BASE_PREFIX):].split("-", 1)[0]
        if not pid_text.isdigit() or pid_alive(int(pid_text)):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed += 1
    return removed


@dataclass
class CaptureStats:
    """What one source's capture did; ``to_json`` is what ``sitesnap capture --json`` prints."""

    source: str
    generations_started: int = 0
    resumed: bool = False
    segments: int = 0
    commits: int = 0
    frames: int = 0
    bytes_shipped: int = 0
    truncations: int = 0  # WAL truncations past the limit (each starts a generation)
    reasons: list[str] = field(default_factory=list)  # why each new generation started

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "generations_started": self.generations_started, "resumed": self.resumed,
                "segments": self.segments, "commits": self.commits, "frames": self.frames,
                "bytes_shipped": self.bytes_shipped, "truncations": self.truncations,
                "new_generation_reasons": self.reasons}


class SourceCapture:
    """One SQLite source's capture into ``repo``.  Not thread-safe."""

    def __init__(self, repo: Repository, source: str, path: str | os.PathLike[str], *,
                 wal_limit: int = DEFAULT_WAL_LIMIT, clock: Callable[[], int] = time.time_ns) -> None:
        self.repo = repo
        self.source = source
        self.tailer = SqliteTailer(path, wal_limit=wal_limit, clock=clock)
        self.stats = CaptureStats(source)
        self.generation = b""
        self.sequence = 0
        self.end_pos = 0
        self.end_time_ns = 0

    def close(self) -> None:
        self.tailer.close()

    def start(self) -> None:
        """Resume the newest generation if the WAL continues it, else start a new one."""
        timeline = build_timelines(logstream.load_segments(self.repo, self.source)).get(self.source)
        if timeline and timeline.generations:
            newest = max(timeline.generations, key=lambda g: (g.newest_ns, g.oldest_ns))
            last = newest.chain[-1] if newest.chain else newest.base
            position = WalPosition.from_params(last.params)
            if not newest.broken and position is not None and self.tailer.resume(position):
                self.generation, self.sequence = newest.generation, last.sequence + 1
                self.end_pos, self.end_time_ns = last.end_pos, last.end_time_ns
                self.stats.resumed = True
                return
            self.new_generation("the stored position cannot be continued after a restart")
            return
        self.new_generation("first capture of this source")

    def new_generation(self, reason: str) -> None:
        """Store a base copy as segment 0 of a new generation."""
        self.stats.reasons.append(reason)
        with tempfile.TemporaryDirectory(prefix=f"{_BASE_PREFIX}{os.getpid()}-") as tmp:
            base_path = Path(tmp) / "base.sqlite"
            position, now = self.tailer.take_base(base_path)
            generation = os.urandom(16)
            seg = LogSegment(self.source, generation, 0, BASE, 0, 0, now, now, 0, params=position.to_params())
            with open(base_path, "rb") as fh:
                logstream.save_segment(self.repo, seg, fh)
        self.generation, self.sequence, self.end_pos, self.end_time_ns = generation, 1, 0, now
        self.stats.generations_started += 1
        self.stats.segments += 1

    def tick(self) -> int:
        """Ship what was committed since the last tick; returns the number of commits shipped."""
        try:
            batch = self.tailer.poll()
        except Discontinuity as exc:
            self.new_generation(str(exc))
            return 0
        if batch is None:
            return 0
        self._store(batch)
        try:
            self.tailer.checkpoint()
        except Discontinuity as exc:
            self.new_generation(str(exc))
        self.stats.truncations = self.tailer.truncations
        return len(batch.commits)

    def _store(self, batch: Batch) -> None:
        assert batch.end is not None
        end_ns = max(batch.time_ns, self.end_time_ns)  # the wall clock may step back; the log never does
        commits = [Commit(end_ns, end) for _t, end in batch.commits]
        seg = LogSegment(self.source, self.generation, self.sequence, LOG, self.end_pos,
                         self.end_pos + batch.frames, self.end_time_ns, end_ns, 0, commits,
                         params=batch.end.to_params())
        logstream.save_segment(self.repo, seg, batch.payload)
        self.sequence += 1
        self.end_pos, self.end_time_ns = seg.end_pos, end_ns
        self.stats.segments += 1
        self.stats.commits += len(commits)
        self.stats.frames += batch.frames
        self.stats.bytes_shipped += len(batch.payload)


def open_sqlite_capture(repo: Repository, source_cfg: Any, *, wal_limit: int = DEFAULT_WAL_LIMIT) -> SourceCapture:
    """The SQLite continuous kind's ``open_capture`` (``engine/continuous_kinds.py``)."""
    return SourceCapture(repo, source_cfg.name, str(source_cfg.path), wal_limit=wal_limit)


def continuous_sources(cfg: Any) -> list[Any]:
    """The config of every source with ``continuous = true``; UsageError when there is none."""
    found = [s for s in cfg.sources if getattr(s, "continuous", False)]
    if not found:
        raise UsageError("no source has continuous = true",
                         hint="Add 'continuous = true' to a [[sources]] table of type sqlite (docs/continuous.md).")
    return found


class ProgressReport(Protocol):
    """Hears a source's capture progress: generation (hex), newest shipped commit (ns), new segments."""

    def __call__(self, source: str, generation: str, newest_commit_ns: int | None, segments: int) -> None: ...


def _report(on_progress: ProgressReport, name: str, capture: Capture, before: int) -> int:
    """Tell ``on_progress`` what ``capture`` stored since ``before`` segments; returns the new count."""
    stats = getattr(capture, "stats", None)
    segments = stats.segments if isinstance(stats, CaptureStats) else before
    generation = getattr(capture, "generation", b"")
    newest = getattr(capture, "end_time_ns", 0) or None
    fresh = segments - before
    on_progress(name, generation.hex() if fresh and isinstance(generation, bytes) else "",
                newest if fresh else None, fresh)
    return segments


def _stats_of(source: str, capture: Capture, shipped: int) -> CaptureStats:
    """The capture's own statistics when it keeps them, else what the driver counted."""
    stats = getattr(capture, "stats", None)
    return stats if isinstance(stats, CaptureStats) else CaptureStats(source, commits=shipped)


def run_capture(repo: Repository, sources: list[Any], *, interval: float = DEFAULT_INTERVAL,
                once: bool = False, stop: threading.Event | None = None, wal_limit: int = DEFAULT_WAL_LIMIT,
                on_tick: Callable[[list[CaptureStats]], None] | None = None,
                on_progress: ProgressReport | None = None) -> list[CaptureStats]:
    """Capture every source config in ``sources`` until ``stop`` is set (or once), under a shared lock.

    Each source is opened through its continuous kind
    (:func:`~sitesnap.engine.continuous_kinds.open_capture`), started
    (resumed, or a new base taken), then ticked every ``interval`` seconds.
    After ``stop`` is set, one last tick ships what was committed meanwhile.
    ``on_progress`` hears, after every tick, each source's generation, newest
    shipped commit time and the segments stored since the last call (none:
    "alive, nothing new"), so whoever runs the loop can record the lag.
    """
    stop = stop or threading.Event()
    remove_stale_base_copies()
    with repo.lock(operation="capture"):
        repo.load_index()
        captures: list[tuple[str, Capture]] = []
        shipped = {s.name: 0 for s in sources}
        reported: dict[str, int] = {}
        try:
            for src in sources:
                captures.append((src.name, open_capture(repo, src, wal_limit=wal_limit)))
                captures[-1][1].start()
            while True:
                last = once or stop.is_set()
                for name, capture in captures:
                    shipped[name] += capture.tick()
                    if on_progress is not None:
                        reported[name] = _report(on_progress, name, capture, reported.get(name, 0))
                if on_tick is not None:
                    on_tick([_stats_of(n, c, shipped[n]) for n, c in captures])
                if last:
                    break
                stop.wait(interval)
        finally:
            for _name, capture in captures:
                capture.close()
    return [_stats_of(n, c, shipped[n]) for n, c in captures]
