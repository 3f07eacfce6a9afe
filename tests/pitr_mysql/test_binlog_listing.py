"""Transaction boundaries from mariadb-binlog's listing, and binlog coordinates from a dump (no server)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from sitesnap.capture.mysqlbase import CoordinateReader
from sitesnap.capture.mysqlevents import parse_listing
from sitesnap.capture.mysqlreplay import Replay, replay_binlog
from sitesnap.capture.mysqlspool import binlog_name, binlog_number, position, remove_stale_spools, split_position
from sitesnap.config.schema import MysqlSource as MysqlSourceConfig
from sitesnap.errors import MissingTool, SourceError

LISTING = """\
# at 4
#261204 17:26:35 server id 1  end_log_pos 256 CRC32 0x3a6b1c20 \tStart: binlog v 4, server v 10.11
# at 256
#261204 17:26:35 server id 1  end_log_pos 285 CRC32 0x1f8a7a8e \tGtid list []
# at 285
#261204 17:26:40 server id 1  end_log_pos 327 CRC32 0x11111111 \tGTID 0-1-1 ddl
/*!100001 SET @@session.gtid_seq_no=1*//*!*/;
# at 327
#261204 17:26:40 server id 1  end_log_pos 450 CRC32 0x22222222 \tQuery\tthread_id=4\texec_time=0\terror_code=0
CREATE DATABASE shop
/*!*/;
# at 450
#261130  0:53:20 server id 1  end_log_pos 492 CRC32 0x6c5caa16 \tGTID 0-1-2 trans
START TRANSACTION
# at 492
#261130  0:53:20 server id 1  end_log_pos 556 CRC32 0xb9e43a1e \tAnnotate_rows:
#261130  0:53:20 server id 1  end_log_pos 604 CRC32 0x9e60d2b5 \tTable_map: `shop`.`acct` mapped to number 18
# at 604
#261130  0:53:20 server id 1  end_log_pos 656 CRC32 0x46009c09 \tUpdate_rows: table id 18 flags: STMT_END_F
# at 656
#261130  0:53:20 server id 1  end_log_pos 687 CRC32 0xc1805f4c \tXid = 27
COMMIT/*!*/;
# at 687
#261204 17:26:49 server id 1  end_log_pos 729 CRC32 0xad97eff9 \tGTID 0-1-3 trans
START TRANSACTION
# at 729
#261204 17:26:49 server id 1  end_log_pos 774 CRC32 0x1b4008c0 \tTable_map: `other`.`t` mapped to number 22
# at 774
#261204 17:26:49 server id 1  end_log_pos 812 CRC32 0xa02ff724 \tWrite_rows: table id 22 flags: STMT_END_F
# at 812
#261204 17:26:49 server id 1  end_log_pos 843 CRC32 0x81eac228 \tXid = 31
COMMIT/*!*/;
# at 843
#261204 17:26:50 server id 1  end_log_pos 885 CRC32 0x81eac228 \tGTID 0-1-4 trans
START TRANSACTION
# at 885
#261204 17:26:50 server id 1  end_log_pos 930 CRC32 0x1b4008c0 \tTable_map: `shop`.`acct` mapped to number 18
"""


def test_transactions_end_at_xid_or_after_a_ddl_statement() -> None:
    scan = parse_listing(LISTING.splitlines(), size=2000)
    assert [(t.end, t.gtid) for t in scan.transactions] == [(450, "0-1-1"), (687, "0-1-2"), (843, "0-1-3")]
    assert scan.transactions[1].time_ns == 1796000000 * 10**9  # the GTID event's second, read as UTC
    assert scan.safe_end == 843  # the open transaction 0-1-4 is not shippable yet
    assert not scan.rotated


def test_databases_of_a_transaction_come_from_its_table_maps() -> None:
    ddl, shop, other = parse_listing(LISTING.splitlines(), size=2000).transactions
    assert ddl.concerns("shop") and ddl.concerns("other")  # unknown: every database
    assert shop.concerns("shop") and not shop.concerns("other")
    assert other.databases == frozenset({"other"})


def test_a_torn_event_at_the_end_of_a_growing_file_is_not_counted() -> None:
    scan = parse_listing(LISTING.splitlines(), size=840)
    assert [t.gtid for t in scan.transactions] == ["0-1-1", "0-1-2"]
    assert scan.safe_end == 687


def test_a_rotate_event_closes_the_file() -> None:
    closed = LISTING[: LISTING.index("# at 843")]
    closed += "# at 843\n#261204 17:27:00 server id 1  end_log_pos 888 CRC32 0x0 \tRotate to binlog.000002  pos: 4\n"
    scan = parse_listing(closed.splitlines(), size=2000)
    assert scan.rotated and scan.safe_end == 888
    assert len(scan.transactions) == 3


def test_positions_order_files_then_offsets() -> None:
    assert binlog_number("mysql-bin.000042") == 42
    assert binlog_name("mysql-bin.000042", 43) == "mysql-bin.000043"
    assert position("b.000002", 4) > position("b.000001", 10**9)
    assert split_position(position("b.000007", 1234)) == (7, 1234)
    with pytest.raises(SourceError):
        binlog_number("no-number")


def test_the_dump_header_gives_the_base_coordinates() -> None:
    dump = (b"-- MariaDB dump\n" + b"-- filler line\n" * 5000
            + b"-- CHANGE MASTER TO MASTER_LOG_FILE='binlog.000003', MASTER_LOG_POS=3667;\n"
            + b"INSERT INTO t VALUES (1);\n" * 5000 + b"-- SET GLOBAL gtid_slave_pos='0-1-17';\n")
    ended: list[str] = []
    reader = CoordinateReader(io.BytesIO(dump), lambda r: ended.append(r.file))
    out = b""
    while chunk := reader.read(1000):
        out += chunk
    assert out == dump
    assert (reader.file, reader.pos, reader.gtid) == ("binlog.000003", 3667, "0-1-17")
    assert ended == ["binlog.000003"]


def test_continuous_is_accepted_on_mysql_sources() -> None:
    cfg = MysqlSourceConfig.model_validate({"name": "db", "type": "mysql", "url": "mysql://u@h/db",
                                            "continuous": True})
    assert cfg.continuous


def test_a_client_without_sandbox_never_replays_a_binlog(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    with pytest.raises(MissingTool, match="--sandbox"):
        replay_binlog("/bin/false", f"/bin/touch {marker}", "Usage: mariadb [OPTIONS]", "/nonexistent.cnf",
                      Replay(["b.000001"], 4, 100, "shop", "shop"))
    assert not marker.exists()


def test_spools_of_dead_captures_are_removed(tmp_path: Path) -> None:
    dead = tmp_path / "sitesnap-binlog-999999999-abc"  # no such process
    alive = tmp_path / f"sitesnap-binlog-{os.getpid()}-abc"
    for d in (dead, alive):
        d.mkdir()
        (d / "binlog.000001").write_bytes(b"\xfebin")
    assert remove_stale_spools(str(tmp_path)) == 1
    assert not dead.exists() and alive.exists()
