"""Generations: resume after a restart, a new one after a WAL reset behind the capture or a truncation."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from sitesnap.engine.continuous import CaptureStats, SourceCapture, remove_stale_base_copies, run_capture
from sitesnap.engine.replay import restore_source_at, source_timelines, to_datetime
from sitesnap.repository.repository import Repository

from .site import sqlite_source
from .writers import Writers, make_wal_db, rows_in


def _insert(conn: sqlite3.Connection, writer: int, count: int) -> set[tuple[int, int]]:
    for n in range(count):
        conn.execute("INSERT INTO rows VALUES (?, ?, 0, randomblob(500))", (writer, n))
    return {(writer, n) for n in range(count)}


def _restore_newest(repo: Repository, tmp_path: Path, name: str, generation: int = -1) -> set[tuple[int, int]]:
    [timeline] = source_timelines(repo).values()
    at = to_datetime(timeline.generations[generation].newest_ns)
    result = restore_source_at(repo, "db", at, tmp_path / name)
    assert result.integrity == "ok"
    return rows_in(tmp_path / name)


def test_restart_resumes_and_a_reset_wal_starts_a_new_generation(
    make_repo: Callable[..., Repository], tmp_path: Path
) -> None:
    repo = make_repo()
    db = tmp_path / "site.db"
    make_wal_db(db)
    app = sqlite3.connect(db, isolation_level=None)  # the site keeps its connection, so its WAL stays
    rows_a = _insert(app, 0, 50)
    first = run_capture(repo, [sqlite_source(db)], once=True)[0]
    rows_b = _insert(app, 1, 50)
    second = run_capture(repo, [sqlite_source(db)], once=True)[0]
    assert (first.generations_started, second.generations_started, second.resumed) == (1, 0, True)
    assert second.commits == 50

    app.execute("DELETE FROM rows WHERE writer = 0")
    app.execute("VACUUM")  # rewrites every page, through the WAL
    assert app.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0  # behind the capture's back
    rows_c = _insert(app, 2, 30)
    third = run_capture(repo, [sqlite_source(db)], once=True)[0]
    assert third.generations_started == 1 and not third.resumed
    rows_d = _insert(app, 3, 30)
    fourth = run_capture(repo, [sqlite_source(db)], once=True)[0]
    assert fourth.resumed and fourth.generations_started == 0

    [timeline] = source_timelines(repo).values()
    assert len(timeline.generations) == 2
    assert len(timeline.gaps()) == 1  # between the old generation's end and the new base
    assert _restore_newest(repo, tmp_path, "old.db", 0) == rows_a | rows_b
    assert _restore_newest(repo, tmp_path, "new.db", 1) == rows_b | rows_c | rows_d
    app.close()


def test_a_truncation_past_the_limit_starts_a_generation_that_continues_fresh(
    make_repo: Callable[..., Repository], tmp_path: Path
) -> None:
    """Past the WAL limit the capture truncates the WAL, then continues from a base of the empty WAL."""
    repo = make_repo()
    db = tmp_path / "site.db"
    make_wal_db(db)
    app = sqlite3.connect(db, isolation_level=None)
    capture = SourceCapture(repo, "db", db, wal_limit=64 << 10)
    repo.load_index()
    capture.start()  # an empty WAL: the first WAL written after it continues the base
    expected: set[tuple[int, int]] = set()
    for writer in range(4):
        expected |= _insert(app, writer, 40)
        assert capture.tick() == 40
        assert Path(f"{db}-wal").stat().st_size == 0  # truncated after every batch
    capture.close()
    assert capture.tailer.truncations == 4 and capture.stats.generations_started == 5
    [timeline] = source_timelines(repo).values()
    assert len(timeline.generations) == 5
    assert len(timeline.gaps()) == 4  # truncation to new base: unproven, so reported, however short
    assert all(len(g.chain) == 1 for g in timeline.generations[:4])  # each fresh base continued by its batch
    assert _restore_newest(repo, tmp_path, "r.db") == expected
    app.close()


def test_under_constant_writes_the_wal_stays_bounded_and_every_generation_replays(
    make_repo: Callable[..., Repository], tmp_path: Path
) -> None:
    """A truncation that races a writer cannot prove continuity: it starts a generation, never a gap."""
    repo = make_repo()
    db = tmp_path / "site.db"
    make_wal_db(db)
    writers = Writers(db).start()
    stop = threading.Event()
    wal_sizes: list[int] = []

    def watch(_stats: object) -> None:
        wal_sizes.append(Path(f"{db}-wal").stat().st_size)

    result: list[list[CaptureStats]] = []
    runner = threading.Thread(target=lambda: result.append(run_capture(
        repo, [sqlite_source(db)], interval=0.05, stop=stop, wal_limit=256 << 10, on_tick=watch)))
    runner.start()
    time.sleep(2.0)
    writers.finish()
    stop.set()
    runner.join()
    [stats] = result[0]
    assert max(wal_sizes) < 8 << 20  # truncated on the way, not grown without bound
    [timeline] = source_timelines(repo).values()
    assert len(timeline.generations) == stats.generations_started
    for i in range(len(timeline.generations)):
        rows = _restore_newest(repo, tmp_path, f"g{i}.db", i)
        assert rows <= set(writers.done)
    assert rows == set(writers.done)


def test_base_copies_of_killed_captures_are_removed(tmp_path: Path) -> None:
    proc = subprocess.Popen(["true"])  # a process that has exited and been reaped: its PID is free
    proc.wait()
    stale = tmp_path / f"sitesnap-base-{proc.pid}-abc"
    stale.mkdir()
    (stale / "base.sqlite").write_bytes(b"x")
    live = tmp_path / f"sitesnap-base-{os.getpid()}-def"
    live.mkdir()
    assert remove_stale_base_copies(str(tmp_path)) == 1
    assert not stale.exists() and live.exists()


_TRUNCATE = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], timeout=0)
print(conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0])
"""


def test_the_read_mark_holds_against_other_processes_between_polls(
    make_repo: Callable[..., Repository], tmp_path: Path
) -> None:
    """Between polls another process cannot reset the WAL: the capture's read transaction really holds."""
    repo = make_repo()
    db = tmp_path / "site.db"
    make_wal_db(db)
    app = sqlite3.connect(db, isolation_level=None)
    _insert(app, 0, 5)
    capture = SourceCapture(repo, "db", db)
    repo.load_index()
    capture.start()
    for writer in range(1, 4):
        _insert(app, writer, 5)
        capture.tick()
        busy = subprocess.run([sys.executable, "-c", _TRUNCATE, str(db)], capture_output=True, text=True,
                              check=True).stdout.strip()
        assert busy == "1"
    _insert(app, 9, 5)
    assert capture.tick() == 5 and capture.stats.generations_started == 1
    capture.close()
    app.close()
