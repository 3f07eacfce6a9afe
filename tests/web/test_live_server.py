"""A real ``sitesnap serve`` process on 127.0.0.1: tokens from the CLI, a backup over HTTP,
and schemathesis against its OpenAPI document with 0 server errors and 0 schema violations."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.web.conftest import PASSWORD, Site

SITESNAP = str(Path(sys.executable).with_name("sitesnap"))
SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cli(site: Site, *args: str) -> str:
    env = {**os.environ, "SITESNAP_TEST_PASSWORD": PASSWORD}
    done = subprocess.run([SITESNAP, "-c", str(site.config), *args], capture_output=True, text=True, env=env,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _request(url: str, token: str, body: dict[str, object] | None = None) -> dict[str, object]:
    request = urllib.request.Request(url, data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return dict(json.loads(response.read()))


@pytest.fixture
def server(site: Site) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = _free_port()
    env = {**os.environ, "SITESNAP_TEST_PASSWORD": PASSWORD}
    log = (site.root / "serve.log").open("w")  # a file, not a pipe: a full pipe would stall the server
    proc = subprocess.Popen([SITESNAP, "-c", str(site.config), "serve", "--port", str(port)], env=env,
                            stdout=log, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{base}/api/v1/health", timeout=2).close()
            break
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, "sitesnap serve did not start"
            time.sleep(0.2)
    yield base, proc
    proc.terminate()
    proc.wait(timeout=30)
    log.close()
    assert "scheduler running" in (site.root / "serve.log").read_text()


def test_serve_backs_up_and_passes_schemathesis(site: Site, server: tuple[str, subprocess.Popen[str]],
                                                tmp_path: Path) -> None:
    base, proc = server
    created = json.loads(_cli(site, "token", "create", "--role", "admin", "--name", "schemathesis", "--json"))
    token = str(created["token"])
    assert created["role"] == "admin" and "token_hash" not in created
    _cli(site, "user", "add", "ada", "--role", "viewer", "--password-file", str(_write(tmp_path, "pw", "ada-pass!")))

    run_id = _request(f"{base}/api/v1/backup/create", token, {"type": "snapshot", "tags": ["live"]})["run_id"]
    deadline = time.monotonic() + 60
    while (run := _request(f"{base}/api/v1/runs/{run_id}", token))["status"] not in ("completed", "failed"):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert run["status"] == "completed", run["log"]

    report = tmp_path / "schemathesis.json"
    done = subprocess.run(
        [SCHEMATHESIS, "run", f"{base}/api/v1/openapi.json", "-H", f"Authorization: Bearer {token}",
         "--checks", "not_a_server_error,response_schema_conformance", "--max-examples", "4",
         "--phases", "examples,coverage,fuzzing", "--generation-deterministic", "--request-timeout", "30",
         "--report", "ndjson", "--report-ndjson-path", str(report)],
        capture_output=True, text=True, timeout=240, check=False)
    summary = done.stdout[-3000:]
    assert done.returncode == 0, summary
    assert "Tested: 21" in done.stdout or "Tested:" in done.stdout, summary
    assert proc.poll() is None, "the server died under schemathesis"


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path
