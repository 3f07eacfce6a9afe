"""Binlog capture and restore to a second against a private MariaDB server (tests/pitr_mysql/conftest.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from tests.pitr_mysql.bank import Bank, balances, checksum, create_bank, expected_balances, ledger
from tests.pitr_mysql.conftest import Server

from sitesnap.config.schema import MysqlSource as MysqlSourceConfig
from sitesnap.engine.mypitr import MysqlCapture, open_capture, restore_at
from sitesnap.engine.replay import source_timelines
from sitesnap.errors import RestoreError
from sitesnap.repository.logcheck import check_log_segments
from sitesnap.repository.repository import Repository


def _config(server: Server, db: str) -> Any:
    return MysqlSourceConfig.model_validate({"name": db, "type": "mysql", "url": server.url(db), "continuous": True})


def _capture_while(capture: MysqlCapture, seconds: float, interval: float = 0.2) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        capture.tick()
        time.sleep(interval)


def _at(second: int) -> datetime:
    return datetime.fromtimestamp(second, UTC).replace(microsecond=700_000)  # any instant of the second


def test_restore_to_several_seconds_is_exact(binlog_server: Server, make_repo: Callable[..., Repository]) -> None:
    server = binlog_server
    create_bank(server, "bank")
    create_bank(server, "other")
    repo = make_repo()
    repo.load_index()
    capture = open_capture(repo, _config(server, "bank"))
    bank = Bank(server, "bank", "other")
    try:
        capture.start()
        assert capture.stats.generations_started == 1
        bank.start()
        _capture_while(capture, 6.0)
        server.sql("FLUSH BINARY LOGS")  # a rotation in the middle of the window
        _capture_while(capture, 3.0)
        bank.finish()
        time.sleep(0.5)
        capture.tick()
    finally:
        bank.stop.set()
        capture.close()
    live = ledger(server, "bank")
    stamps = sorted({row[3] for row in live.values()})
    assert len(stamps) >= 6, "the writers should span several seconds"
    other_before = checksum(server, "other")
    chosen = [stamps[1], stamps[len(stamps) // 2], stamps[-2], stamps[-1]]
    for i, second in enumerate(chosen):
        result = restore_at(repo, _config(server, "bank"), _at(second), f"bank_at_{i}")
        restored = ledger(server, f"bank_at_{i}")
        assert restored == {k: v for k, v in live.items() if v[3] <= second}, f"at {second}"
        assert restored, "some transfers happened by then"
        assert balances(server, f"bank_at_{i}") == expected_balances(restored)
        assert result.commits > 0 and result.state_ns // 1_000_000_000 <= second
        assert result.to_json()["resolution"] == "1s"
    assert checksum(server, "other") == other_before, "the replay never touches another database"
    assert all(row[0] == -1 for row in ledger(server, "other").values())

    in_place = chosen[1]
    restore_at(repo, _config(server, "bank"), _at(in_place), "bank")
    assert ledger(server, "bank") == {k: v for k, v in live.items() if v[3] <= in_place}
    assert balances(server, "bank") == expected_balances(ledger(server, "bank"))
    assert checksum(server, "other") == other_before


def test_seconds_outside_the_capture_are_refused(binlog_server: Server, make_repo: Callable[..., Repository]) -> None:
    server = binlog_server
    create_bank(server, "quiet")
    repo = make_repo()
    repo.load_index()
    capture = open_capture(repo, _config(server, "quiet"))
    try:
        capture.start()
        time.sleep(1.1)
        server.sql("INSERT INTO quiet.ledger (src, dst, amount, stamp) VALUES (1, 2, 3, UNIX_TIMESTAMP())")
        time.sleep(0.5)
        assert _tick_until(capture) == 1
    finally:
        capture.close()
    newest = source_timelines(repo)["quiet"].newest_ns
    assert newest is not None
    with pytest.raises(RestoreError, match="after the newest"):
        restore_at(repo, _config(server, "quiet"), _at(newest // 1_000_000_000 + 5), "quiet_late")
    with pytest.raises(RestoreError, match="before the oldest"):
        restore_at(repo, _config(server, "quiet"), _at(newest // 1_000_000_000 - 3600), "quiet_early")


def _tick_until(capture: MysqlCapture, want: int = 1, seconds: float = 10.0) -> int:
    got, deadline = 0, time.monotonic() + seconds
    while got < want and time.monotonic() < deadline:
        got += capture.tick()
        time.sleep(0.1)
    return got


def test_a_purge_behind_a_stopped_capture_is_a_reported_gap(
    binlog_server: Server, make_repo: Callable[..., Repository]
) -> None:
    server = binlog_server
    create_bank(server, "purged")
    repo = make_repo()
    repo.load_index()
    capture = open_capture(repo, _config(server, "purged"))
    try:
        capture.start()
        server.sql("INSERT INTO purged.ledger (src, dst, amount, stamp) VALUES (1, 2, 3, UNIX_TIMESTAMP())")
        assert _tick_until(capture) == 1
    finally:
        capture.close()
    time.sleep(1.1)
    server.sql("INSERT INTO purged.ledger (src, dst, amount, stamp) VALUES (4, 5, 6, UNIX_TIMESTAMP())")
    server.sql("FLUSH BINARY LOGS")
    current = server.sql("SHOW MASTER STATUS")[0][0]
    deadline = time.monotonic() + 30  # the server keeps a file a replica still reads: wait for its thread to end,
    while server.sql("SELECT COUNT(*) FROM information_schema.processlist WHERE command LIKE 'Binlog Dump%'")[0][0]:
        assert time.monotonic() < deadline, "the stopped capture's replication thread did not end"
        time.sleep(0.1)
    # ... and a file whose transactions InnoDB has not checkpointed yet: purge until it is gone.
    while [r[0] for r in server.sql(f"PURGE BINARY LOGS TO '{current}'", "SHOW BINARY LOGS")] != [current]:
        assert time.monotonic() < deadline, "the old binlog files were not purged"
        time.sleep(0.2)
    time.sleep(1.1)

    again = open_capture(repo, _config(server, "purged"))
    try:
        again.start()
        assert not again.stats.resumed
        assert again.stats.generations_started == 1
        assert any("gap" in r and "purged" in r for r in again.stats.reasons), again.stats.reasons
    finally:
        again.close()
    timeline = source_timelines(repo)["purged"]
    assert len(timeline.generations) == 2
    assert len(timeline.gaps()) == 1
    gap_from, gap_to = timeline.gaps()[0]
    inside = (gap_from // 1_000_000_000 + gap_to // 1_000_000_000) // 2
    if gap_from // 1_000_000_000 < inside < gap_to // 1_000_000_000:
        with pytest.raises(RestoreError, match="gap"):
            restore_at(repo, _config(server, "purged"), _at(inside), "purged_gap")
    result = restore_at(repo, _config(server, "purged"), _at(gap_to // 1_000_000_000), "purged_after")
    assert sorted(r[:3] for r in ledger(server, "purged_after").values()) == [(1, 2, 3), (4, 5, 6)]
    assert result.generation == timeline.generations[1].generation.hex()


def test_a_binlog_copy_that_dies_is_restarted_without_a_new_base(
    binlog_server: Server, make_repo: Callable[..., Repository]
) -> None:
    server = binlog_server
    create_bank(server, "restarted")
    repo = make_repo()
    repo.load_index()
    capture = open_capture(repo, _config(server, "restarted"))
    try:
        capture.start()
        server.sql("INSERT INTO restarted.ledger (src, dst, amount, stamp) VALUES (1, 2, 3, UNIX_TIMESTAMP())")
        assert _tick_until(capture) == 1
        assert capture.spool is not None and capture.spool.proc is not None
        capture.spool.proc.kill()
        capture.spool.proc.wait()
        server.sql("INSERT INTO restarted.ledger (src, dst, amount, stamp) VALUES (2, 3, 4, UNIX_TIMESTAMP())")
        assert _tick_until(capture) == 1
        assert capture.stats.generations_started == 1 and capture.spool.running()
    finally:
        capture.close()
    assert check_log_segments(repo) == ([], [])
    timeline = source_timelines(repo)["restarted"]
    assert len(timeline.generations) == 1 and not timeline.generations[0].broken


def test_a_stopped_capture_resumes_where_it_left_off(
    binlog_server: Server, make_repo: Callable[..., Repository]
) -> None:
    server = binlog_server
    create_bank(server, "resumed")
    repo = make_repo()
    repo.load_index()
    first = open_capture(repo, _config(server, "resumed"))
    try:
        first.start()
        server.sql("INSERT INTO resumed.ledger (src, dst, amount, stamp) VALUES (1, 2, 3, UNIX_TIMESTAMP())")
        assert _tick_until(first) == 1
    finally:
        first.close()
    server.sql("INSERT INTO resumed.ledger (src, dst, amount, stamp) VALUES (2, 3, 4, UNIX_TIMESTAMP())")
    server.sql("FLUSH BINARY LOGS")
    time.sleep(1.1)
    server.sql("INSERT INTO resumed.ledger (src, dst, amount, stamp) VALUES (3, 4, 5, UNIX_TIMESTAMP())")
    second = open_capture(repo, _config(server, "resumed"))
    try:
        second.start()
        assert second.stats.resumed and second.stats.generations_started == 0
        assert _tick_until(second, 2) == 2
    finally:
        second.close()
    newest = source_timelines(repo)["resumed"].newest_ns
    assert newest is not None
    restore_at(repo, _config(server, "resumed"), _at(newest // 1_000_000_000), "resumed_copy")
    assert sorted(r[:3] for r in ledger(server, "resumed_copy").values()) == [(1, 2, 3), (2, 3, 4), (3, 4, 5)]
