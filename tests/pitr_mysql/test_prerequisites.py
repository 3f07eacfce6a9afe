"""What capture start checks on the server, and what it says to change."""

from __future__ import annotations

import pytest
from tests.pitr_mysql.conftest import Server

from sitesnap.capture.mysqlserver import Login, check_server
from sitesnap.errors import SourceError


def test_a_server_without_binlog_is_refused_with_the_setting_to_change() -> None:
    # The shared MariaDB of the test machine runs with log_bin off.
    try:
        facts_or_error = check_server(Login("127.0.0.1", 3306, "root", None))
    except SourceError as exc:
        if "cannot connect" in str(exc):
            pytest.skip(f"the shared MariaDB is not reachable: {exc}")
        assert "log_bin is OFF" in str(exc)
        assert exc.hint is not None and "log_bin = mysql-bin" in exc.hint
        return
    pytest.skip(f"the shared MariaDB has its binlog on ({facts_or_error})")


def test_missing_replication_privileges_are_named_with_the_grant(binlog_server: Server) -> None:
    binlog_server.sql("CREATE USER IF NOT EXISTS 'reader'@'127.0.0.1' IDENTIFIED BY 'pw'",
                      "GRANT SELECT ON *.* TO 'reader'@'127.0.0.1'")
    with pytest.raises(SourceError, match="REPLICATION SLAVE, BINLOG MONITOR") as caught:
        check_server(Login("127.0.0.1", binlog_server.port, "reader", "pw"))
    hint = caught.value.hint or ""
    assert hint.startswith("GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO 'reader'")


def test_the_replication_grants_are_enough_and_weak_settings_are_warnings(binlog_server: Server) -> None:
    binlog_server.sql("CREATE USER IF NOT EXISTS 'replica'@'127.0.0.1' IDENTIFIED BY 'pw'",
                      "GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO 'replica'@'127.0.0.1'",
                      "SET GLOBAL binlog_expire_logs_seconds = 3600")
    try:
        facts = check_server(Login("127.0.0.1", binlog_server.port, "replica", "pw"))
    finally:
        binlog_server.sql("SET GLOBAL binlog_expire_logs_seconds = 0")
    assert facts.server_id == 1 and facts.binlog_format == "ROW"
    assert any("expire after 3600 s" in w for w in facts.warnings)
