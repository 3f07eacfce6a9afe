"""Database backup figures for docs/performance.md (a script, not a test).

For PostgreSQL (and MariaDB with --mysql): builds a database of about
``--size-mb`` MB, backs it up with sitesnap, changes ``--change-pct`` % of the
rows (spread uniformly at random, plus the same share appended), backs it up
again, and reports what the second snapshot added to the repository; then
times a bare ``pg_dump`` to /dev/null against ``sitesnap backup`` of the same
database.

Three timings of sitesnap are reported, each the median of ``--repeat`` runs:

* ``sitesnap_backup_s``: the command ``sitesnap -c site.toml backup`` started
  cold with no scheduler running (a new Python process: imports, key
  derivation, catalog, then the backup in that process);
* ``warm_backup_s``: the same backup run as the embedded scheduler, a Celery
  worker or the web API run it: ``run_job("backup")`` in a process that has
  already started (measured in a child process that loads the configuration
  and catalog once, runs one backup untimed and then the timed ones);
* ``handoff_backup_s``: the cold command again, while ``sitesnap -c site.toml
  scheduler`` runs for the site, so the command hands the backup to the
  scheduler (``sitesnap.runtime.handoff``) and only streams its progress; the
  scheduler's first backup is untimed, as for the warm timing, and the runs
  are checked to have run in the scheduler's process.

Each ``*_ratio_to_bare_dump`` divides by the bare dump's time.  The bench
config turns every ``[schedule]`` job off, so nothing scheduled runs during
the measurement.

    .venv/bin/python bench/db_bench.py --size-mb 200
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import pymysql

ROOT = Path(__file__).resolve().parent.parent
SITESNAP = str(ROOT / ".venv" / "bin" / "sitesnap")
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def sh(cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, cwd=cwd, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def warm_times(cfg: Path, repeat: int, env: dict[str, str]) -> list[float]:
    """Backups run by ``run_job`` in one long-lived process (as the scheduler does), each timed."""
    out = subprocess.run([sys.executable, __file__, "--warm-worker", str(cfg), str(repeat)], env=env,
                         check=True, capture_output=True, text=True).stdout
    return [float(x) for x in json.loads(out.strip().splitlines()[-1])]


def warm_worker(cfg_path: str, repeat: int) -> None:
    """Child of :func:`warm_times`: one untimed backup, then ``repeat`` timed ones, as JSON seconds."""
    from sitesnap.catalog import open_catalog
    from sitesnap.config.loader import load_config
    from sitesnap.runtime.jobs import run_job

    cfg = load_config(cfg_path)
    catalog = open_catalog(cfg.runtime.catalog_url)
    times = []
    for i in range(repeat + 1):
        t0 = time.perf_counter()
        run = run_job("backup", cfg, {"type": "incremental"}, catalog=catalog, triggered_by="scheduler",
                      worker="scheduler")
        if not run.ok:
            raise SystemExit(f"backup failed: {run.error}")
        if i:
            times.append(time.perf_counter() - t0)
    catalog.close()
    print(json.dumps(times))


def handoff_times(cfg: Path, repeat: int, env: dict[str, str]) -> list[float]:
    """Cold ``sitesnap -c cfg -q backup`` runs while the site's scheduler runs, each timed."""
    sock = cfg.parent / ".sitesnap" / "scheduler-bench.sock"
    sched = subprocess.Popen([SITESNAP, "-c", str(cfg), "scheduler"], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not _listening(sock):
            if sched.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the scheduler did not listen on {sock}")
            time.sleep(0.05)
        base = [SITESNAP, "-c", str(cfg), "-q"]
        sh([*base, "backup"], env)  # untimed: the scheduler's first backup loads the engine and unwraps the key
        times = [sh([*base, "backup"], env) for _ in range(repeat)]
        runs = json.loads(subprocess.run([*base, "--json", "runs", "--limit", str(repeat + 1)], env=env,
                                         capture_output=True, text=True, check=True).stdout)["runs"]
        if any(r["pid"] != sched.pid or r["status"] != "completed" for r in runs):
            raise SystemExit(f"a backup did not run in the scheduler (pid {sched.pid}): {runs}")
        return times
    finally:
        sched.terminate()
        sched.communicate(timeout=120)


def _listening(sock: Path) -> bool:
    with socket.socket(socket.AF_UNIX) as probe:
        return probe.connect_ex(str(sock)) == 0


def dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def make_pg(name: str, size_mb: int) -> int:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    rows = size_mb * 1024 * 1024 // 250
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{name}", autocommit=True) as conn:
        conn.execute("CREATE TABLE post (id bigserial PRIMARY KEY, author int, title text, body text, "
                     "created timestamptz)")
        conn.execute(
            "INSERT INTO post (author, title, body, created) SELECT g %% 97, 'title ' || g, "
            "md5(g::text) || ' ' || repeat(md5((g*7)::text), 6), now() - (g || ' minutes')::interval "
            "FROM generate_series(1, %s) g", (rows,))
    return rows


def change_pg(name: str, rows: int, pct: float, pattern: str = "random") -> None:
    """``random``: updates spread uniformly over the table; ``recent``: the newest rows (a blog's usual edits)."""
    n = int(rows * pct / 100)
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{name}", autocommit=True) as conn:
        if pattern == "recent":
            conn.execute("UPDATE post SET title = title || ' (edited)' WHERE id > %s", (rows - n,))
        else:
            conn.execute("UPDATE post SET title = title || ' (edited)' WHERE id IN "
                         "(SELECT (random() * %s)::bigint + 1 FROM generate_series(1, %s))", (rows - 1, n))
        conn.execute("INSERT INTO post (author, title, body, created) SELECT 1, 'new ' || g, "
                     "repeat(md5(g::text), 7), now() FROM generate_series(1, %s) g", (n,))


def site_config(dir_: Path, url: str, kind: str) -> Path:
    cfg = dir_ / "sitesnap.toml"
    cfg.write_text(f"""[site]
name = "bench"
[[sources]]
name = "db"
type = "{kind}"
url = "{url}"
[[repositories]]
name = "local"
url = "repo"
password = {{ env = "SITESNAP_PASSWORD" }}
[schedule]
incremental = "off"
full = "off"
prune = "off"
check = "off"
drill = "off"
""")
    return cfg


def run(kind: str, size_mb: int, pct: float, repeat: int, pattern: str = "random") -> dict[str, object]:
    name = f"sitesnap_bench_{kind}"
    work = Path(tempfile.mkdtemp(prefix="sitesnap-dbbench-"))
    env = {**os.environ, "SITESNAP_PASSWORD": "bench"}
    try:
        if kind == "postgres":
            rows = make_pg(name, size_mb)
            url = f"postgresql://postgres@127.0.0.1:5432/{name}"
            bare = ["pg_dump", "-h", "127.0.0.1", "-U", "postgres", "-f", "/dev/null", name]
        else:
            rows = make_my(name, size_mb)
            url = f"mysql://root@127.0.0.1:3306/{name}"
            bare = ["mariadb-dump", "-h", "127.0.0.1", "-u", "root", "--single-transaction", "--hex-blob",
                    "--routines", "--triggers", "--events", "--skip-dump-date", "--skip-extended-insert",
                    "--result-file=/dev/null", name]
        cfg = site_config(work, url, kind)
        base = [SITESNAP, "-c", str(cfg), "-q"]
        sh([*base, "init", "--kdf", "scrypt"], env)
        first = sh([*base, "backup"], env)
        size1 = dir_size(work / "repo")
        change = sh([*base, "backup"], env)  # unchanged database: dedup of an identical dump
        size_same = dir_size(work / "repo")
        if kind == "postgres":
            change_pg(name, rows, pct, pattern)
        else:
            change_my(name, rows, pct)
        second = sh([*base, "backup"], env)
        size2 = dir_size(work / "repo")
        dump_bytes = json.loads(subprocess.run([*base, "snapshots", "--json"], env=env, capture_output=True,
                                               text=True, check=True).stdout)[-1]["sources"][0]["size"]
        bare_times = [sh(bare) for _ in range(repeat)]
        ours = [sh([*base, "backup"], env) for _ in range(repeat)]
        warm = warm_times(cfg, repeat, env)
        handoff = handoff_times(cfg, repeat, env)
        return {
            "kind": kind, "rows": rows, "dump_bytes": dump_bytes, "first_backup_s": round(first, 2),
            "repo_after_first": size1, "added_unchanged": size_same - size1,
            "changed_pct": pct, "pattern": pattern, "added_after_change": size2 - size_same,
            "added_pct_of_dump": round(100 * (size2 - size_same) / dump_bytes, 2),
            "second_backup_s": round(second, 2), "unchanged_backup_s": round(change, 2),
            "bare_dump_s": round(statistics.median(bare_times), 2),
            "sitesnap_backup_s": round(statistics.median(ours), 2),
            "ratio_to_bare_dump": round(statistics.median(ours) / statistics.median(bare_times), 3),
            "warm_backup_s": round(statistics.median(warm), 2),
            "warm_ratio_to_bare_dump": round(statistics.median(warm) / statistics.median(bare_times), 3),
            "handoff_backup_s": round(statistics.median(handoff), 2),
            "handoff_ratio_to_bare_dump": round(statistics.median(handoff) / statistics.median(bare_times), 3),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if kind == "postgres":
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        else:
            c = pymysql.connect(host="127.0.0.1", user="root", autocommit=True)
            c.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")
            c.close()


def make_my(name: str, size_mb: int) -> int:
    c = pymysql.connect(host="127.0.0.1", user="root", autocommit=True)
    cur = c.cursor()
    cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
    cur.execute(f"CREATE DATABASE `{name}`")
    cur.execute(f"USE `{name}`")
    cur.execute("CREATE TABLE post (id BIGINT AUTO_INCREMENT PRIMARY KEY, author INT, title VARCHAR(200), "
                "body TEXT, created DATETIME) ENGINE=InnoDB")
    rows = size_mb * 1024 * 1024 // 250
    batch = 5000
    for start in range(0, rows, batch):
        rows_batch = [(i % 97, f"title {i}", f"{i:032x} " + f"{i * 7:032x}" * 6) for i in range(start, start + batch)]
        cur.executemany("INSERT INTO post (author, title, body, created) VALUES (%s, %s, %s, NOW())", rows_batch)
    c.close()
    return rows


def change_my(name: str, rows: int, pct: float) -> None:
    n = int(rows * pct / 100)
    c = pymysql.connect(host="127.0.0.1", user="root", database=name, autocommit=True)
    cur = c.cursor()
    cur.execute(f"UPDATE post SET title = CONCAT(title, ' (edited)') ORDER BY RAND() LIMIT {n}")
    cur.executemany("INSERT INTO post (author, title, body, created) VALUES (1, %s, %s, NOW())",
                    [(f"new {i}", f"{i:032x}" * 7) for i in range(n)])
    c.close()


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--warm-worker":
        warm_worker(sys.argv[2], int(sys.argv[3]))
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mb", type=int, default=200)
    ap.add_argument("--change-pct", type=float, default=1.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--mysql", action="store_true", help="also measure MariaDB")
    ap.add_argument("--pattern", choices=["random", "recent", "both"], default="both",
                    help="which rows change between the two backups (PostgreSQL)")
    args = ap.parse_args()
    patterns = ["random", "recent"] if args.pattern == "both" else [args.pattern]
    results = [run("postgres", args.size_mb, args.change_pct, args.repeat, p) for p in patterns]
    if args.mysql:
        results.append(run("mysql", args.size_mb, args.change_pct, args.repeat))
    json.dump(results, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
