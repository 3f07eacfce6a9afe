"""Continuous capture figures for docs/continuous.md (a script, not a test).

Runs ``--writers`` threads committing small transactions into a WAL-mode
SQLite database for ``--seconds``, once without a capture and once while
``sitesnap capture`` ships to a local repository every ``--interval`` seconds, and
reports the writers' commits per second in both runs (the overhead; the
capture runs as ``sitesnap capture`` in its own process, as in production), the lag
between a commit and the shipped time that covers it (the RPO actually
seen), the segments and bytes shipped, and the time to restore the newest
state.

    PYTHONPATH=src .venv/bin/python bench/capture_bench.py --seconds 10
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from sitesnap.engine.replay import restore_source_at, source_timelines, to_datetime
from sitesnap.format.crypto import FAST_TEST_KDF
from sitesnap.repository.logstream import load_segments
from sitesnap.repository.repository import Repository
from sitesnap.storage.local import LocalStorage


def _make_db(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB)")
    conn.close()


def _write(path: Path, stop: threading.Event, commits: list[int]) -> None:
    conn = sqlite3.connect(path, isolation_level=None, timeout=30)
    while not stop.is_set():
        conn.execute("INSERT INTO t (body) VALUES (randomblob(200))")
        commits.append(time.time_ns())
    conn.close()


def _run_writers(path: Path, writers: int, seconds: float) -> list[int]:
    stop = threading.Event()
    commits: list[int] = []
    threads = [threading.Thread(target=_write, args=(path, stop, commits)) for _ in range(writers)]
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    return commits


def _lags(repo: Repository, commits: list[int]) -> list[float]:
    """Per writer commit, the seconds until the first shipped time at or after it."""
    shipped = sorted({c.time_ns for s in load_segments(repo, "db") for c in s.commits})
    lags, i = [], 0
    for t in sorted(commits):
        while i < len(shipped) and shipped[i] < t:
            i += 1
        if i < len(shipped):
            lags.append((shipped[i] - t) / 1e9)
    return lags


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--interval", type=float, default=1.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _make_db(root / "plain.db")
        plain = _run_writers(root / "plain.db", args.writers, args.seconds)
        _make_db(root / "site.db")
        Repository.init(LocalStorage(root / "repo"), "bench", kdf=FAST_TEST_KDF).close()
        (root / "sitesnap.toml").write_text(
            '[site]\nname = "bench"\n[[sources]]\nname = "db"\ntype = "sqlite"\npath = "site.db"\n'
            'continuous = true\n[[repositories]]\nname = "local"\nurl = "repo"\n')
        env = {**os.environ, "SITESNAP_PASSWORD": "bench"}
        capture = subprocess.Popen([str(Path(sys.executable).with_name("sitesnap")), "-c", "sitesnap.toml",
                                    "capture", "--interval", str(args.interval)], cwd=root, env=env,
                                   stdout=subprocess.DEVNULL)
        time.sleep(3)  # started and based
        captured = _run_writers(root / "site.db", args.writers, args.seconds)
        capture.send_signal(signal.SIGTERM)
        capture.wait()
        repo = Repository.open(LocalStorage(root / "repo"), "bench")
        repo.load_index()
        lags = _lags(repo, captured)
        segments = load_segments(repo, "db")
        started = time.perf_counter()
        newest = source_timelines(repo)["db"].generations[-1].newest_ns
        restore_source_at(repo, "db", to_datetime(newest), root / "restored.db")
        report: dict[str, Any] = {
            "commits_per_s_plain": round(len(plain) / args.seconds),
            "commits_per_s_captured": round(len(captured) / args.seconds),
            "overhead_pct": round(100 * (1 - len(captured) / len(plain)), 1),
            "lag_median_s": round(statistics.median(lags), 3),
            "lag_max_s": round(max(lags), 3),
            "segments": len(segments),
            "payload_mb": round(sum(s.payload_size for s in segments) / 1e6, 1),
            "repo_mb": round(sum(f.stat().st_size for f in (root / "repo").rglob("*") if f.is_file()) / 1e6, 1),
            "restore_newest_s": round(time.perf_counter() - started, 2),
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
