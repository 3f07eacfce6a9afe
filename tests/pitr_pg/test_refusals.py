"""What a PostgreSQL capture or restore refuses, with the message that says what to change."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from sitesnap.engine.pgpitr import open_capture
from sitesnap.engine.pgrestore import Recovery, _check_host
from sitesnap.errors import RestoreError, SourceError
from sitesnap.format.logseg import BASE, LogSegment
from sitesnap.repository.logtimeline import Generation
from sitesnap.repository.repository import Repository

from .conftest import PgCluster
from .test_restore_at import source


def test_a_role_without_replication_is_named(pg_cluster: PgCluster, make_repo: Callable[..., Repository],
                                             tmp_path: Path) -> None:
    with pg_cluster.connect() as conn:
        conn.execute("DROP ROLE IF EXISTS plain_role")
        conn.execute("CREATE ROLE plain_role LOGIN")
    cfg = source(pg_cluster, "postgres")
    cfg.url = cfg.url.replace("postgres@", "plain_role@")
    repo = make_repo()
    cap = open_capture(repo, cfg, spool=tmp_path / "spool")
    try:
        with pytest.raises(SourceError, match="ALTER ROLE plain_role REPLICATION"):
            cap.start()
    finally:
        cap.close()
    assert not (tmp_path / "spool").exists()


def _recovery(major: int, base_size: int) -> Recovery:
    base = LogSegment("db", b"\x01" * 16, 0, BASE, 0, 0, 1, 1, base_size)
    return Recovery("db", Generation(base.generation, base), [], 1, True, major, 16 << 20)


def test_a_missing_server_package_is_named(tmp_path: Path) -> None:
    with pytest.raises(RestoreError, match="PostgreSQL 99 server programs") as caught:
        _check_host(_recovery(99, 1), tmp_path)
    assert "apt-get install postgresql-99" in caught.value.hint


def test_not_enough_disk_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RestoreError, match="MiB free, the recovery needs about"):
        _check_host(_recovery(15, 1 << 60), tmp_path)
    assert list(tmp_path.iterdir()) == []
