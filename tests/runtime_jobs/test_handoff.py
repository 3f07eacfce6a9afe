"""``sitesnap -c site.toml backup`` hands the backup to the site's running scheduler, against real processes.

A scheduler (``sitesnap -c site.toml scheduler``) runs as a subprocess; the
CLI runs as another, as a user would start them.  The hand-off must look
like an in-process backup (output, exit code, recorded run) and fall back to
one whenever the scheduler cannot take it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from runtime_sites import Site

from sitesnap.catalog import RunInfo, open_catalog
from sitesnap.config import load_config
from sitesnap.runtime.handoff import (
    HandoffServer,
    Refused,
    Reply,
    config_digest,
    hand_off_backup,
    peer_allowed,
    read_site_address,
    socket_path,
)

SITESNAP = str(Path(sys.executable).with_name("sitesnap"))
OFF = '[schedule]\nincremental = "off"\nfull = "off"\nprune = "off"\ncheck = "off"\ndrill = "off"\n'
PG = "postgresql://postgres@127.0.0.1:5432"


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SITESNAP_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _cli(site: Site, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SITESNAP, "-c", str(site.config_path), *args], env=_env(), capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def _lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def _summary(stdout: str) -> dict[str, Any]:
    summaries = [m for m in _lines(stdout) if m["message_type"] == "summary"]
    assert len(summaries) == 1, stdout
    return summaries[0]


def _run(site: Site, run_id: str) -> RunInfo:
    catalog = open_catalog(site.cfg.runtime.catalog_url)
    try:
        run = catalog.get_run(run_id)
    finally:
        catalog.close()
    assert run is not None
    return run


def _wait_for_run(site: Site, statuses: tuple[str, ...], timeout: float = 30) -> RunInfo:
    catalog = open_catalog(site.cfg.runtime.catalog_url)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for status in statuses:
                runs = catalog.list_runs(site=site.cfg.site.name, status=status).items
                if runs:
                    return runs[0]
            time.sleep(0.05)
    finally:
        catalog.close()
    raise AssertionError(f"no run in {statuses} after {timeout}s")


class Scheduler:
    """``sitesnap -c CONFIG scheduler`` in a subprocess, up once its socket takes connections."""

    def __init__(self, config_path: Path, sock: Path) -> None:
        self.sock = sock
        self.proc = subprocess.Popen([SITESNAP, "-c", str(config_path), "scheduler"], env=_env(),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while not self.listening():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"scheduler did not listen on {sock}: {self.stderr}")
            time.sleep(0.05)

    def listening(self) -> bool:
        with socket.socket(socket.AF_UNIX) as probe:
            try:
                probe.connect(str(self.sock))
            except OSError:
                return False
        return True

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        _, self.stderr = self.proc.communicate(timeout=60)


@pytest.fixture
def start_scheduler() -> Iterator[Callable[[Site], Scheduler]]:
    started: list[Scheduler] = []

    def start(site: Site) -> Scheduler:
        sched = Scheduler(site.config_path, socket_path(site.cfg.runtime.state_dir, site.cfg.site.name))
        started.append(sched)
        return sched

    yield start
    for sched in started:
        sched.stop()


@pytest.fixture
def site(make_site: Callable[..., Site]) -> Site:
    return make_site("blog", schedule=OFF)


def test_backup_runs_in_the_scheduler_and_reads_as_if_run_here(site, start_scheduler) -> None:
    sched = start_scheduler(site)
    done = _cli(site, "backup", "--json", "--tag", "nightly")
    assert done.returncode == 0, done.stderr
    messages = _lines(done.stdout)
    assert [m for m in messages if m["message_type"] == "status"], "no progress arrived"
    summary = _summary(done.stdout)
    assert summary["ran_in"] == "scheduler" and summary["tags"] == ["nightly"]
    run = _run(site, summary["run_id"])
    assert (run.status, run.triggered_by, run.worker, run.pid) == ("completed", "cli", "scheduler", sched.pid)
    with site.open_repo() as repo:
        assert summary["snapshot_id"] in repo.snapshot_ids()
    # The human output is the one of an in-process backup, numbers aside.
    handed = _cli(site, "backup")
    here = _cli(site, "backup", "--in-process")
    assert handed.returncode == here.returncode == 0, (handed.stderr, here.stderr)

    def shape(text: str) -> str:
        return re.sub(r"[0-9a-f]{8}|\d+(\.\d+)?", "N", text)

    assert shape(handed.stdout) == shape(here.stdout) and "snapshot" in here.stdout
    assert handed.stderr == here.stderr == ""
    sched.stop()
    assert not sched.sock.exists(), "the socket outlived its scheduler"


def test_without_a_scheduler_the_backup_runs_here(site) -> None:
    done = _cli(site, "backup", "--json")
    assert done.returncode == 0, done.stderr
    summary = _summary(done.stdout)
    assert summary["ran_in"] == "cli"
    run = _run(site, summary["run_id"])
    assert (run.status, run.worker) == ("completed", "") and run.pid != os.getpid()


def test_in_process_flag_runs_here_beside_a_scheduler(site, start_scheduler) -> None:
    sched = start_scheduler(site)
    done = _cli(site, "backup", "--json", "--in-process")
    assert done.returncode == 0, done.stderr
    summary = _summary(done.stdout)
    assert summary["ran_in"] == "cli" and _run(site, summary["run_id"]).pid != sched.pid
    # So does a backup to a repository named with -r.
    named = _cli(site, "-r", "local", "backup", "--json")
    assert named.returncode == 0 and _summary(named.stdout)["ran_in"] == "cli", named.stderr


def test_config_edited_after_the_scheduler_started_runs_here_with_a_note(site, start_scheduler) -> None:
    start_scheduler(site)
    with site.config_path.open("a") as fh:
        fh.write("# edited\n")
    done = _cli(site, "backup")
    assert done.returncode == 0, done.stderr
    assert "the site's scheduler runs an older configuration" in done.stderr
    assert "backing up in this process" in done.stderr
    as_json = _cli(site, "backup", "--json")
    assert _summary(as_json.stdout)["ran_in"] == "cli"
    assert any(m["message_type"] == "warning" and "older configuration" in m["message"]
               for m in _lines(as_json.stdout))


def test_a_failing_backup_fails_the_same_way_in_either_place(site, start_scheduler) -> None:
    start_scheduler(site)
    # A missing database fails the whole backup (a missing uploads folder only makes it incomplete, below).
    site.database.unlink()
    handed, here = _cli(site, "backup"), _cli(site, "backup", "--in-process")
    assert handed.returncode == here.returncode == 17
    assert handed.stderr == here.stderr
    assert handed.stderr.startswith("sitesnap: error: Cannot read source: source 'db': ")
    assert len(handed.stderr.splitlines()) == 1 and "Traceback" not in handed.stderr
    handed_json = _lines(_cli(site, "backup", "--json").stdout)
    here_json = _lines(_cli(site, "backup", "--json", "--in-process").stdout)
    errors = [[m for m in lines if m["message_type"] == "error"] for lines in (handed_json, here_json)]
    assert errors[0] == errors[1] and errors[0][0]["exit_code"] == 17
    failed = _wait_for_run(site, ("failed",))
    assert failed.error_code == "source"


def test_a_missing_uploads_folder_is_incomplete_the_same_way_in_either_place(site, start_scheduler) -> None:
    start_scheduler(site)
    (site.uploads / "index.html").unlink()
    (site.uploads / "img" / "logo.bin").unlink()
    (site.uploads / "img").rmdir()
    site.uploads.rmdir()
    handed, here = _cli(site, "backup"), _cli(site, "backup", "--in-process")
    assert handed.returncode == here.returncode == 3
    assert "uploads: cannot back up: source 'uploads': " in handed.stderr
    assert "Traceback" not in handed.stderr + here.stderr
    assert [line for line in handed.stderr.splitlines() if "cannot back up" in line] == \
        [line for line in here.stderr.splitlines() if "cannot back up" in line]


def test_client_killed_mid_backup_leaves_the_backup_running_to_the_end(make_site, start_scheduler) -> None:
    site = make_site("slow", schedule=OFF, limit_upload="1MiB/s", payload=3 << 20)
    sched = start_scheduler(site)
    client = subprocess.Popen([SITESNAP, "-c", str(site.config_path), "backup", "--json"], env=_env(),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    running = _wait_for_run(site, ("running",))
    client.kill()
    client.wait()
    assert running.pid == sched.pid
    deadline = time.monotonic() + 60
    while (run := _run(site, running.id)).status == "running":
        assert time.monotonic() < deadline, run
        time.sleep(0.1)
    assert run.status == "completed", run.error_message
    with site.open_repo() as repo:
        assert repo.snapshot_ids() == [run.result["snapshot_id"]]


def test_ctrl_c_leaves_the_backup_to_the_scheduler_and_exits_130(make_site, start_scheduler) -> None:
    site = make_site("slow", schedule=OFF, limit_upload="1MiB/s", payload=3 << 20)
    start_scheduler(site)
    # SIGINT as in a terminal, even when these tests run in the background (where it is ignored and
    # a Python child would inherit that).
    client = subprocess.Popen([SITESNAP, "-c", str(site.config_path), "backup"], env=_env(), text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                              preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    running = _wait_for_run(site, ("running",))
    client.send_signal(signal.SIGINT)
    _, stderr = client.communicate(timeout=30)
    assert client.returncode == 130
    assert stderr.splitlines() == [
        f"sitesnap: error: Interrupted: the site's scheduler carries on with run {running.id[:8]}",
        "hint: See 'sitesnap runs'."]
    assert _wait_for_run(site, ("completed", "failed"), timeout=60).status == "completed"


def test_a_leftover_socket_is_replaced_and_a_long_path_is_skipped(make_site, start_scheduler) -> None:
    site = make_site("blog", schedule=OFF)
    sock = socket_path(site.cfg.runtime.state_dir, "blog")
    sock.parent.mkdir(parents=True, exist_ok=True)
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(sock))
    stale.close()  # the file stays, nobody listens: what a killed scheduler leaves
    sched = start_scheduler(site)
    done = _cli(site, "backup", "--json")
    assert done.returncode == 0 and _summary(done.stdout)["ran_in"] == "scheduler", done.stderr
    sched.stop()
    assert not sock.exists()
    deep = site.root / ("d" * 60) / "state"
    text = site.config_path.read_text().replace(f'state_dir = "{site.root / "state"}"', f'state_dir = "{deep}"')
    site.config_path.write_text(text)
    sched = subprocess.Popen([SITESNAP, "-c", str(site.config_path), "scheduler"], env=_env(), text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not (deep / "scheduler-blog.lock").exists():
            assert sched.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.5)
        done = _cli(site, "backup", "--json")
        assert done.returncode == 0 and _summary(done.stdout)["ran_in"] == "cli", done.stderr
    finally:
        sched.send_signal(signal.SIGTERM)
        _, stderr = sched.communicate(timeout=60)
    assert "longer than 107 bytes" in stderr


def test_postgres_backup_in_the_scheduler(make_site, start_scheduler) -> None:
    name = f"sitesnap_handoff_{os.getpid()}"
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        with psycopg.connect(f"{PG}/{name}", autocommit=True) as conn:
            conn.execute("CREATE TABLE post (id serial PRIMARY KEY, title text)")
            conn.execute("INSERT INTO post (title) SELECT 'post ' || g FROM generate_series(1, 300) g")
        site = make_site("pg", schedule=OFF)
        source = f'[[sources]]\nname = "pg"\ntype = "postgres"\nurl = "{PG}/{name}"\n\n[[repositories]]'
        site.config_path.write_text(site.config_path.read_text().replace("[[repositories]]", source, 1))
        start_scheduler(site)
        done = _cli(site, "backup", "--json", "--source", "pg")
        assert done.returncode == 0, done.stderr
        summary = _summary(done.stdout)
        assert summary["ran_in"] == "scheduler"
        assert [(s["name"], s["tables"]) for s in summary["sources"]] == [("pg", {"public.post": 300})]
    finally:
        with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    # The database is gone now: the same error, in the scheduler or here.
    handed, here = _cli(site, "backup", "--source", "pg"), _cli(site, "backup", "--source", "pg", "--in-process")
    assert handed.returncode == here.returncode == 17, handed.stderr
    assert handed.stderr == here.stderr and handed.stderr.startswith("sitesnap: error: Cannot read source: ")


# --- the parts, without subprocesses -----------------------------------------------


def test_peer_check_admits_the_same_user_and_root_only() -> None:
    assert peer_allowed((123, 1000, 1000), 1000)
    assert peer_allowed((123, 0, 0), 1000)
    assert not peer_allowed((123, 1001, 1000), 1000)
    assert not peer_allowed((123, 65534, 65534), 0)


def _ask(sock: Path, request: bytes) -> list[dict[str, Any]]:
    with socket.socket(socket.AF_UNIX) as conn:
        conn.connect(str(sock))
        conn.sendall(request)
        with conn.makefile("rb") as reader:
            return [json.loads(line) for line in reader]


def test_server_refuses_what_it_must_not_run(tmp_path: Path) -> None:
    ran: list[dict[str, Any]] = []

    def handler(params: dict[str, Any], reply: Reply) -> dict[str, Any]:
        ran.append(params)
        reply.accept("r1")
        return {"run_id": "r1", "kind": "backup", "status": "completed", "result": {}}

    sock = tmp_path / "s.sock"
    server = HandoffServer(sock, "abc", handler)
    assert server.start()
    try:
        assert sock.stat().st_mode & 0o777 == 0o600
        params = {"type": "full", "tags": ["a"], "sources": [], "copy": False}

        def request(**changes: Any) -> bytes:
            return json.dumps({"v": 1, "op": "backup", "params": params, "config_digest": "abc", **changes}).encode()

        def refusal(raw: bytes) -> str:
            replies = _ask(sock, raw + b"\n")
            assert len(replies) == 1 and replies[0]["message_type"] == "refused", replies
            return str(replies[0]["code"])

        assert refusal(request(config_digest="other")) == "stale_config"
        assert refusal(request(v=2)) == "version"
        assert refusal(request(op="restore")) == "version"
        assert refusal(request(params={**params, "repository": "elsewhere"})) == "request"
        assert refusal(request(params={**params, "tags": [1]})) == "request"
        assert refusal(b"not json") == "request"
        assert not ran
        replies = _ask(sock, request() + b"\n")
        assert [m["message_type"] for m in replies] == ["accepted", "result"] and ran == [params]
    finally:
        server.close()
    assert not sock.exists()


def test_server_refuses_a_peer_of_another_user() -> None:
    """A real connection from uid 65534: the kernel's SO_PEERCRED, not the file mode, turns it away."""
    if os.geteuid() != 0:
        pytest.skip("needs root to connect as another user")
    where = Path(tempfile.mkdtemp(prefix="handoff-peer-"))  # tmp_path is not open to other users
    where.chmod(0o755)
    sock = where / "s.sock"
    server = HandoffServer(sock, "abc", lambda params, reply: {}, uid=4242)
    assert server.start()
    os.chmod(sock, 0o666)  # as if the mode were wrong: the peer check must still refuse
    read_end, write_end = os.pipe()
    try:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            try:
                os.close(read_end)
                os.setuid(65534)
                answer: Any = _ask(sock, b'{"v": 1, "op": "backup", "params": {}, "config_digest": "abc"}\n')
            except Exception as exc:
                answer = repr(exc)
            os.write(write_end, json.dumps(answer).encode())
            os._exit(0)
        os.close(write_end)
        with os.fdopen(read_end) as fh:
            answer = json.loads(fh.read())
        os.waitpid(pid, 0)
    finally:
        server.close()
        shutil.rmtree(where)
    assert isinstance(answer, list), answer
    assert [(m["message_type"], m["code"]) for m in answer] == [("refused", "peer")]


def test_client_finds_nobody_and_reports_refusals(tmp_path: Path) -> None:
    config = tmp_path / "site.toml"
    config.write_text('[site]\nname = "x"\n[runtime]\nstate_dir = "st"\n')
    params = {"type": "incremental", "tags": [], "sources": [], "copy": True}
    assert hand_off_backup(config, params) is None  # no socket
    sock = socket_path(tmp_path / "st", "x")
    sock.parent.mkdir()
    server = HandoffServer(sock, "not the digest", lambda p, reply: {})
    assert server.start()
    try:
        with pytest.raises(Refused) as refused:
            hand_off_backup(config, params)
        assert refused.value.code == "stale_config"
    finally:
        server.close()
    lone = socket.socket(socket.AF_UNIX)
    lone.bind(str(sock))  # bound, not listening: ECONNREFUSED
    try:
        assert hand_off_backup(config, params) is None
    finally:
        lone.close()


@pytest.mark.parametrize("runtime", [
    "",
    '[runtime]\nstate_dir = "state"\n',
    '[runtime]\nstate_dir = "../elsewhere/./state/"\n',
    '[runtime]\nstate_dir = "{tmp}/absolute/state"\n',
    '[runtime]\nstate_dir = "~/sitesnap-state"\n',
    '[runtime]\nstate_dir = "~"\n',
])
def test_quick_reading_agrees_with_the_config_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     runtime: str) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "conf").mkdir()
    config = tmp_path / "conf" / "site.toml"
    text = '[site]\nname = "blog.example"\n\n' + runtime.replace("{tmp}", str(tmp_path))
    config.write_text(text)
    for given in (config, Path("conf/site.toml"), Path("conf/../conf/site.toml")):
        quick = read_site_address(given)
        cfg = load_config(given)
        assert quick is not None
        assert (quick.site, quick.state_dir) == (cfg.site.name, cfg.runtime.state_dir)
        assert quick.digest == config_digest(config.read_bytes())
    assert read_site_address(tmp_path / "missing.toml") is None
    config.write_text('[site]\nname = "../bad"\n')
    assert read_site_address(config) is None


def test_a_handler_that_breaks_after_accepting_still_ends_with_a_failed_result(tmp_path: Path) -> None:
    def handler(params: dict[str, Any], reply: Reply) -> dict[str, Any]:
        reply.accept("r2")
        raise RuntimeError("boom")

    sock = tmp_path / "s.sock"
    server = HandoffServer(sock, "abc", handler)
    assert server.start()
    try:
        replies = _ask(sock, b'{"v": 1, "op": "backup", "params": {}, "config_digest": "abc"}\n')
    finally:
        server.close()
    assert [m["message_type"] for m in replies] == ["accepted", "result"]
    assert replies[1]["run_id"] == "r2" and replies[1]["status"] == "failed"
    assert replies[1]["error"]["message"] == "internal error: RuntimeError: boom"
