"""PostgreSQL base backup into a repository against a bare ``pg_basebackup`` (a script, not a test).

Makes a private PostgreSQL 15 cluster (Debian's binaries, run as the
``postgres`` user), fills it with ``--mb`` MiB of rows, then times, in the
same run: a bare ``pg_basebackup -X none -Ft`` writing its tar to a file;
the capture's first base (``PgCapture.start``: streamed through the chunker,
compressed, encrypted, stored); and a second base of the unchanged cluster
(what it adds to the repository).  Target: the first base within 1.2 x the
bare tool's time.

    PYTHONPATH=src .venv/bin/python bench/pgbase_bench.py --mb 300
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import psycopg

from sitesnap.engine.pgpitr import open_capture
from sitesnap.format.crypto import FAST_TEST_KDF
from sitesnap.repository.repository import Repository
from sitesnap.storage.local import LocalStorage

BIN = Path("/usr/lib/postgresql/15/bin")


def _as_postgres(*argv: str) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else list(argv)


def _cluster(root: Path) -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)
    subprocess.run(_as_postgres(str(BIN / "initdb"), "-D", str(root / "data"), "-U", "postgres", "--auth=trust",
                                "--no-sync"), check=True, capture_output=True)
    with open(root / "data" / "postgresql.conf", "a") as fh:
        fh.write(f"port = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{root}'\n"
                 "wal_level = replica\nmax_wal_senders = 10\n")
    subprocess.run(_as_postgres(str(BIN / "pg_ctl"), "-D", str(root / "data"), "-l", str(root / "log"), "-w",
                                "start"), check=True, capture_output=True)
    return port


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=300)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="sitesnap-pgbench-"))
    root.chmod(0o755)
    port = _cluster(root)
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE t (id bigint, body text)")
            rows = args.mb * 1024 * 1024 // 250
            conn.execute("INSERT INTO t SELECT g, md5(g::text) || repeat(md5((g * 7)::text), 6) "
                         "FROM generate_series(1, %s) g", (rows,))
            conn.execute("CHECKPOINT")
            cluster_bytes = int(conn.execute("SELECT pg_database_size('postgres')").fetchone()[0])  # type: ignore[index]
        env = {**os.environ, "PGHOST": "127.0.0.1", "PGPORT": str(port), "PGUSER": "postgres"}
        started = time.perf_counter()
        with open(root / "bare.tar", "wb") as out:
            subprocess.run([str(BIN / "pg_basebackup"), "-D", "-", "-Ft", "-X", "none", "--checkpoint=fast",
                            "--no-manifest"], env=env, stdout=out, check=True, stderr=subprocess.DEVNULL)
        bare = time.perf_counter() - started
        repo_path = root / "repo"
        repo = Repository.init(LocalStorage(repo_path), "bench", kdf=FAST_TEST_KDF)
        cfg = SimpleNamespace(name="bench", type="postgres", url=url, password=None, continuous=True)
        cap = open_capture(repo, cfg, spool=root / "spool")
        with repo.lock(operation="capture"):
            repo.load_index()
            started = time.perf_counter()
            cap.start()
            first = time.perf_counter() - started
            first_bytes = _size(repo_path)
            started = time.perf_counter()
            cap.new_generation("bench: a second base")
            second = time.perf_counter() - started
            second_bytes = _size(repo_path) - first_bytes
            cap.close()
        print(json.dumps({"cluster_bytes": cluster_bytes, "tar_bytes": (root / "bare.tar").stat().st_size,
                          "bare_pg_basebackup_s": round(bare, 2), "first_base_s": round(first, 2),
                          "ratio": round(first / bare, 2), "first_base_repo_bytes": first_bytes,
                          "second_base_s": round(second, 2), "second_base_added_bytes": second_bytes}, indent=1))
    finally:
        subprocess.run(_as_postgres(str(BIN / "pg_ctl"), "-D", str(root / "data"), "-m", "immediate", "stop"),
                       capture_output=True, check=False)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
