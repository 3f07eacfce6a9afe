"""``wal-push`` (archive_command) and ``wal-fetch`` (restore_command) over the capture's log segments."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from tests.conftest import PASSWORD, CliResult

from sitesnap.capture.pgwal import WalFile
from sitesnap.engine.pgrestore import wal_file_bytes
from sitesnap.engine.replay import source_timelines
from sitesnap.repository.repository import Repository

from . import ledger
from .conftest import PgCluster
from .test_restore_at import capture_while, check_exact, pick_times, source


def _site(root: Path, cluster: PgCluster, repo_path: Path) -> Path:
    cfg = root / "sitesnap.toml"
    cfg.write_text('[site]\nname = "shop"\n'
                   f'[[sources]]\nname = "arch"\ntype = "postgres"\nurl = "{cluster.url("arch")}"\n'
                   'continuous = true\n'
                   f'[[repositories]]\nname = "local"\nurl = "{repo_path}"\n')
    return cfg


def _switch(cluster: PgCluster) -> str:
    """Write a little, close the current WAL file; returns its name."""
    with cluster.connect("arch") as conn:
        for n in range(20):
            conn.execute("INSERT INTO ledger (client, n) VALUES (9, %s)", (n,))
            time.sleep(0.002)
        name = str(conn.execute("SELECT pg_walfile_name(pg_current_wal_lsn())").fetchone()[0])  # type: ignore[index]
        conn.execute("SELECT pg_switch_wal()")
    return name


def test_push_continues_the_capture_and_fetch_rebuilds_files(
        pg_cluster: PgCluster, make_repo: Callable[..., Repository], tmp_path: Path,
        run_cli: Callable[..., CliResult]) -> None:
    pg_cluster.create_database("arch")
    ledger.create(pg_cluster.url("arch"))
    repo_path = tmp_path / "repo"
    repo = make_repo(repo_path)
    cfg_path = _site(tmp_path, pg_cluster, repo_path)
    cfg = source(pg_cluster, "arch")
    capture_while(repo, cfg, tmp_path / "spool", 1.0, during=lambda: _switch(pg_cluster))
    first = _switch(pg_cluster)
    second = _switch(pg_cluster)
    pg_wal = pg_cluster.data / "pg_wal"

    skipped = run_cli("-c", str(cfg_path), "wal-push", str(pg_wal / second))
    assert skipped.code != 0 and "was never archived" in skipped.stderr, skipped
    assert "Traceback" not in skipped.stderr
    for name in (first, second, first):
        pushed = run_cli("-c", str(cfg_path), "wal-push", str(pg_wal / name))
        assert pushed.code == 0, pushed.stderr.replace("\n", " ")[:400]
    assert "already stored" in pushed.stdout

    fetched = tmp_path / "fetched"
    got = run_cli("-c", str(cfg_path), "wal-fetch", first, str(fetched))
    assert got.code == 0, got
    assert fetched.read_bytes() == (pg_wal / first).read_bytes()
    missing = run_cli("-c", str(cfg_path), "wal-fetch", "0000000100000099000000FF", str(tmp_path / "nope"))
    assert missing.code != 0 and not (tmp_path / "nope").exists()

    repo = Repository.open(repo.storage, PASSWORD)
    with repo.lock(operation="check"):
        repo.load_index()
        gen = source_timelines(repo)["arch"].generations[-1]
        assert not gen.broken and gen.chain[-1].params.get("archived") is True
        wal = WalFile.parse(second, 16 << 20)
        assert wal is not None
        assert wal_file_bytes(repo, gen.chain, wal) == (pg_wal / second).read_bytes()
    truth = ledger.committed(pg_cluster.url("arch"))
    late = [c for (_a, c) in truth.values() if c >= max(c for (_a, c) in truth.values()) - (max(
        c for (_a, c) in truth.values()) - min(c for (_a, c) in truth.values())) / 10]
    for n, at in enumerate(pick_times(late, 1)):
        check_exact(pg_cluster, repo, cfg, at, truth, f"arch_at_{n}")


def test_capture_command_follows_a_postgres_source(
        pg_cluster: PgCluster, make_repo: Callable[..., Repository], tmp_path: Path,
        run_cli: Callable[..., CliResult]) -> None:
    pg_cluster.create_database("arch")
    ledger.create(pg_cluster.url("arch"))
    repo_path = tmp_path / "repo"
    make_repo(repo_path)
    cfg_path = _site(tmp_path, pg_cluster, repo_path)
    env = {"TMPDIR": str(tmp_path)}  # the spool goes to the temp directory
    for _ in range(2):
        _switch(pg_cluster)
        done = run_cli("-c", str(cfg_path), "capture", "--once", env=env)
        assert done.code == 0 and "Traceback" not in done.stderr, done.stderr
    assert "arch: resumed" in done.stdout
    shown = run_cli("-c", str(cfg_path), "timeline", "--json", env=env)
    assert shown.code == 0 and '"source": "arch"' in shown.stdout
    checked = run_cli("-c", str(cfg_path), "check", "--read-data", env=env)
    assert checked.code == 0, checked.stdout + checked.stderr
