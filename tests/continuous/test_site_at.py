"""``restore --at TIME`` of a whole site: the continuous database replayed to TIME, files from a snapshot.

Four writer threads record their own commit times while ``sitesnap capture``
runs; the files source is backed up twice meanwhile.  Each restore must hold
exactly the rows of the last shipped commit at or before TIME (the guarantee
of docs/continuous.md, "What a restore to T gives") and the files of the
newest snapshot at or before TIME.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from tests.conftest import SITESNAP, CliResult

from sitesnap.engine.replay import source_timelines, to_datetime

from .site import PASSWORD, make_site, open_repo
from .writers import SLACK_NS, Writers, rows_in


def env() -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("SITESNAP_")}, "SITESNAP_PASSWORD": PASSWORD}


def add_files_source(root: Path, cfg: Path) -> Path:
    uploads = root / "uploads"
    uploads.mkdir()
    (uploads / "post.txt").write_text("first version")
    cfg.write_text(cfg.read_text().replace('[[repositories]]',
                                           '[[sources]]\nname = "uploads"\ntype = "files"\npath = "uploads"\n'
                                           '[[repositories]]'))
    return uploads


def start_capture(cfg: Path, interval: float = 0.2) -> subprocess.Popen[str]:
    return subprocess.Popen([SITESNAP, "-c", str(cfg), "capture", "--interval", str(interval)], env=env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stop_capture(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err


def iso(time_ns: int) -> str:
    return to_datetime(time_ns).isoformat()


def restore_at(run_cli: Callable[..., CliResult], cfg: Path, when: str, *targets: str) -> dict[str, dict[str, str]]:
    args = [a for t in targets for a in ("--to", t)]
    result = run_cli("-c", str(cfg), "--json", "restore", "--at", when, *args, "--yes", timeout=300)
    assert result.code == 0, result.stderr
    summary = [json.loads(line) for line in result.stdout.splitlines() if '"summary"' in line][-1]
    return {i["source"]: {**i["result"], "state_time": i["state_time"]} for i in summary["items"]}


def state_ns_of(item: dict[str, str]) -> int:
    """The last nanosecond of the microsecond the restored state names."""
    return (datetime.fromisoformat(item["state_time"]) - to_datetime(0)) // to_datetime(1000).resolution * 1000 + 999


def test_site_restored_to_several_times(tmp_path: Path, run_cli: Callable[..., CliResult]) -> None:
    cfg, db, repo_path = make_site(tmp_path)
    uploads = add_files_source(tmp_path, cfg)
    assert run_cli("-c", str(cfg), "backup").code == 0
    first_backup = time.time_ns()
    capture = start_capture(cfg)
    writers = Writers(db).start()
    time.sleep(1.5)
    (uploads / "post.txt").write_text("second version")
    second = run_cli("-c", str(cfg), "--json", "backup", "--source", "uploads")
    assert second.code == 0, second.stderr
    second_time = datetime.fromisoformat(json.loads(second.stdout.splitlines()[-1])["time"])
    time.sleep(1.5)
    writers.finish()
    time.sleep(0.5)
    stop_capture(capture)
    repo = open_repo(repo_path)
    timeline = source_timelines(repo)["db"]
    repo.close()
    assert timeline.oldest_ns is not None and timeline.newest_ns is not None
    assert len(writers.done) > 200 and timeline.oldest_ns > first_backup - 10**10
    previous: set[tuple[int, int]] = set()
    for i in range(5):
        at_ns = timeline.oldest_ns + (timeline.newest_ns - timeline.oldest_ns) * i // 4
        at = iso(at_ns)  # fractional seconds and +00:00
        items = restore_at(run_cli, cfg, at, f"db={tmp_path / f'r{i}.db'}", f"uploads={tmp_path / f'u{i}'}")
        got = rows_in(tmp_path / f"r{i}.db")
        state = state_ns_of(items["db"])
        assert items["db"]["integrity"] == "ok" and state <= at_ns // 1000 * 1000 + 999
        for key in got:  # nothing committed after the state (and so after T)
            assert writers.done[key][0] <= state
        for key, (_before, after) in writers.done.items():  # everything committed before it
            if after <= state - SLACK_NS:
                assert key in got, f"row {key} missing at {at}"
        assert previous <= got
        previous = got
        expected = "second version" if datetime.fromisoformat(at) >= second_time else "first version"
        assert (tmp_path / f"u{i}" / "post.txt").read_text() == expected
    assert previous == set(writers.done)  # the newest time holds every commit
    latest = restore_at(run_cli, cfg, "now", f"db={tmp_path / 'now.db'}")
    assert rows_in(tmp_path / "now.db") == set(writers.done) and set(latest) == {"db", "uploads"}


def test_plan_shows_each_source_time_and_a_time_outside_the_window_is_refused(
    tmp_path: Path, run_cli: Callable[..., CliResult]
) -> None:
    cfg, db, _repo_path = make_site(tmp_path)
    add_files_source(tmp_path, cfg)
    assert run_cli("-c", str(cfg), "backup").code == 0
    writers = Writers(db, count=1, pause=0.05).start()
    assert run_cli("-c", str(cfg), "capture", "--once").code == 0
    time.sleep(0.5)
    assert run_cli("-c", str(cfg), "capture", "--once").code == 0
    writers.finish()
    plan = run_cli("-c", str(cfg), "restore", "--at", "now", "--to", f"db={tmp_path / 'x.db'}", "--dry-run")
    assert plan.code == 0, plan.stderr
    assert "log replay" in plan.stdout and "snapshot" in plan.stdout and "the site as of" in plan.stdout
    early = run_cli("-c", str(cfg), "restore", "--at", "2020-01-01T00:00:00.5+00:00", "--source", "db",
                    "--to", f"db={tmp_path / 'y.db'}", "--yes")
    assert early.code != 0 and "Traceback" not in early.stderr
    assert "before the oldest restorable time" in early.stderr and not (tmp_path / "y.db").exists()
    late = run_cli("-c", str(cfg), "restore", "--at", "2099-01-01 00:00", "--source", "db", "--yes")
    assert late.code != 0 and "after the newest captured commit" in late.stderr
    bad = run_cli("-c", str(cfg), "restore", "--at", "yesterday-ish", "--yes")
    assert bad.code == 2 and "cannot read" in bad.stderr


def test_rpo_after_the_writer_process_is_killed(tmp_path: Path, run_cli: Callable[..., CliResult]) -> None:
    """Kill the writing process with SIGKILL: ``restore --at now`` holds every row committed 2 s before."""
    cfg, db, _repo_path = make_site(tmp_path)
    log = tmp_path / "commits.log"
    script = ("import sqlite3, sys, time\n"
              "conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)\n"
              "out = open(sys.argv[2], 'a', buffering=1)\n"
              "n = 0\n"
              "while True:\n"
              "    conn.execute('INSERT INTO rows VALUES (0, ?, 0, randomblob(200))', (n,))\n"
              "    out.write(f'{n} {time.time_ns()}\\n')\n"
              "    n += 1\n"
              "    time.sleep(0.003)\n")
    capture = start_capture(cfg, interval=0.5)
    writer = subprocess.Popen([os.path.join(os.path.dirname(SITESNAP), "python"), "-c", script, str(db), str(log)])
    time.sleep(4)
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    killed_at = time.time_ns()
    time.sleep(1.5)  # the capture keeps running after the application died
    stop_capture(capture)
    restored = restore_at(run_cli, cfg, "now", f"db={tmp_path / 'now.db'}")
    assert restored["db"]["integrity"] == "ok"
    got = {n for _w, n in rows_in(tmp_path / "now.db")}
    committed = [tuple(map(int, line.split())) for line in log.read_text().splitlines() if line.count(" ") == 1]
    must = {n for n, t in committed if t <= killed_at - 2 * 10**9}
    assert len(must) > 100 and must <= got
