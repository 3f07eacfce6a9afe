"""Capture a SQLite database under 4 writers, then replay it to many points in time."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from sitesnap.engine.continuous import SourceCapture, run_capture
from sitesnap.engine.replay import restore_source_at, source_timelines, to_datetime
from sitesnap.errors import RestoreError, SourceError
from sitesnap.repository.repository import Repository

from .site import sqlite_source
from .writers import SLACK_NS, Writers, make_wal_db, rows_in


def _at(time_ns: int) -> datetime:
    return to_datetime(time_ns)


def _capture_while_writing(repo: Repository, db: Path, seconds: float, interval: float = 0.1) -> Writers:
    writers = Writers(db).start()
    stop = threading.Event()
    runner = threading.Thread(target=run_capture, args=(repo, [sqlite_source(db)]),
                              kwargs={"interval": interval, "stop": stop})
    runner.start()
    time.sleep(seconds)
    writers.finish()
    stop.set()
    runner.join()
    return writers


def _check_replay(repo: Repository, tmp_path: Path, writers: Writers, at_ns: int, name: str) -> set[tuple[int, int]]:
    """The rows replayed to ``at_ns`` are exactly those of the last shipped commit at or before it."""
    target = tmp_path / name
    result = restore_source_at(repo, "db", _at(at_ns), target)
    assert result.integrity == "ok"
    got = rows_in(target)
    state = result.state_ns
    assert state <= at_ns
    for key in got:  # nothing committed after T (a row's commit follows its t_before)
        assert writers.done[key][0] <= state
    for key, (_before, after) in writers.done.items():  # everything committed before the shipped state
        if after <= state - SLACK_NS:
            assert key in got, f"row {key} committed at {after} missing from the state at {state}"
    return got


def test_replay_to_any_time_gives_exactly_the_commits_shipped_by_then(
    make_repo: Callable[..., Repository], tmp_path: Path
) -> None:
    repo = make_repo()
    db = tmp_path / "site.db"
    make_wal_db(db)
    writers = _capture_while_writing(repo, db, 2.5)
    repo.load_index()
    [timeline] = source_timelines(repo).values()
    assert timeline.oldest_ns is not None and timeline.newest_ns is not None
    oldest, newest = timeline.oldest_ns, timeline.newest_ns
    assert len(writers.done) > 200
    previous: set[tuple[int, int]] = set()
    for i in range(8):
        at_ns = oldest + (newest - oldest) * i // 7
        got = _check_replay(repo, tmp_path, writers, at_ns, f"r{i}.db")
        assert previous <= got
        previous = got
    assert previous == set(writers.done)  # the last capture tick shipped every commit


def test_times_outside_the_window_are_refused(make_repo: Callable[..., Repository], tmp_path: Path) -> None:
    """After the newest shipped commit nothing is proven: refused, like a time before the base."""
    repo = make_repo()
    db = tmp_path / "site.db"
    make_wal_db(db)
    run_capture(repo, [sqlite_source(db)], once=True)
    [timeline] = source_timelines(repo).values()
    assert timeline.newest_ns is not None
    with pytest.raises(RestoreError, match="after the newest captured commit"):
        restore_source_at(repo, "db", _at(timeline.newest_ns + 2_000_000_000), tmp_path / "late.db")
    with pytest.raises(RestoreError, match="before the oldest"):
        restore_source_at(repo, "db", _at(timeline.newest_ns - 10**12), tmp_path / "early.db")
    with pytest.raises(RestoreError, match="no continuous capture"):
        restore_source_at(repo, "other", _at(timeline.newest_ns), tmp_path / "x.db")


def test_a_database_not_in_wal_mode_is_refused_with_a_hint(
    tmp_path: Path, make_repo: Callable[..., Repository]
) -> None:
    db = tmp_path / "journal.db"
    sqlite3.connect(db).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(SourceError, match="delete journal mode") as info:
        SourceCapture(make_repo(), "db", db)
    assert "PRAGMA journal_mode=WAL" in info.value.hint
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # never switched silently
    conn.close()
