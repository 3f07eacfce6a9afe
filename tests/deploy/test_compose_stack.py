"""The compose stack of deploy/ for real: build the image, bring the stack up with podman-compose,
back the blog up through the API, damage it, restore it through the API, count its rows, tear down.

No container registry is reachable here, so the Debian base comes from debootstrap (cached, see
images.py), Redis runs from that base and PostgreSQL from a stand-in with the official image's
contract (tests/deploy/postgres/).  The sitesnap image is built by deploy/build-image.sh, as a
user would.  Containers, volumes, the network and the images built here are removed afterwards;
only the cached base image stays.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .images import base_image, podman_env, tools_missing

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
STANDIN = Path(__file__).resolve().parent / "postgres"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Stack:
    project: str
    env: dict[str, str]
    api: str
    blog: str

    def compose(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["podman-compose", "-p", self.project, "-f", str(DEPLOY / "compose.yaml"), *args],
                              env=self.env, capture_output=True, text=True, timeout=timeout, cwd=DEPLOY)

    def exec(self, service: str, *args: str) -> str:
        done = subprocess.run(["podman", "exec", f"{self.project}_{service}_1", *args], env=self.env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def logs(self) -> str:
        out = []
        for service in ("postgres", "redis", "blog", "serve", "worker", "scheduler"):
            done = subprocess.run(["podman", "logs", "--tail", "30", f"{self.project}_{service}_1"], env=self.env,
                                  capture_output=True, text=True, timeout=60)
            out.append(f"--- {service}\n{done.stdout}{done.stderr}")
        return "\n".join(out)


def _images(env: dict[str, str]) -> set[str]:
    done = subprocess.run(["podman", "images", "-a", "-q", "--no-trunc"], env=env, capture_output=True, text=True,
                          check=True, timeout=60)
    return set(done.stdout.split())


def _build(env: dict[str, str], base: str, tag: str) -> None:
    standin = hashlib.sha256(b"".join(p.read_bytes() for p in sorted(STANDIN.iterdir()))).hexdigest()[:12]
    subprocess.run(["podman", "build", "-q", "--build-arg", f"BASE={base}", "-t", f"{tag}-postgres:{standin}",
                    str(STANDIN)], env=env, check=True, capture_output=True, timeout=300)
    env["POSTGRES_IMAGE"] = f"{tag}-postgres:{standin}"
    built = subprocess.run([str(DEPLOY / "build-image.sh")], capture_output=True, text=True, timeout=900,
                           env={**env, "BASE": base, "PYTHON": sys.executable, "SITESNAP_IMAGE": f"{tag}:latest"})
    assert built.returncode == 0, built.stderr[-3000:]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    missing = tools_missing()
    if missing or os.geteuid() != 0:
        pytest.skip(f"needs root and {', '.join(missing) or 'podman'} (scripts/setup.sh installs them)")
    env = podman_env(tmp_path_factory.mktemp("podman"))
    base = base_image(env)
    before = _images(env)
    project = f"sitesnap-test-{secrets.token_hex(3)}"
    tag = f"localhost/{project}"
    env.update(SITESNAP_IMAGE=f"{tag}:latest", REDIS_IMAGE=base, SITESNAP_PASSWORD=secrets.token_urlsafe(16),
               POSTGRES_PASSWORD=secrets.token_urlsafe(16), BLOG_ADMIN_PASSWORD="blog-admin-password",
               BLOG_SECRET_KEY=secrets.token_urlsafe(32), BLOG_PORT=str(_free_port()),
               SITESNAP_HTTP_PORT=str(_free_port()))
    stack = Stack(project, env, f"http://127.0.0.1:{env['SITESNAP_HTTP_PORT']}/api/v1/",
                  f"http://127.0.0.1:{env['BLOG_PORT']}/")
    try:
        _build(env, base, tag)
        up = stack.compose("up", "-d")
        assert up.returncode == 0, up.stderr[-3000:]
        yield stack
    finally:
        stack.compose("down", "-v", timeout=600)
        subprocess.run(["podman", "network", "rm", "-f", f"{project}_default"], env=env, capture_output=True)
        for volume in ("pgdata", "redisdata", "repository", "uploads"):
            subprocess.run(["podman", "volume", "rm", "-f", f"{project}_{volume}"], env=env, capture_output=True)
        made = _images(env) - before
        if made:
            subprocess.run(["podman", "rmi", "-f", *made], env=env, capture_output=True, timeout=300)


def _wait(url: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except (OSError, urllib.error.HTTPError):
            pass
        time.sleep(1)
    raise AssertionError(f"{url} did not answer within {timeout}s")


def _api(stack: Stack, token: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    request = urllib.request.Request(stack.api + path, method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def _run(stack: Stack, token: str, run_id: str, timeout: float = 180.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, run = _api(stack, token, "GET", f"runs/{run_id}")
        assert status == 200, run
        if run["status"] in ("completed", "failed", "cancelled"):
            return dict(run)
        time.sleep(1)
    raise AssertionError(f"run {run_id} did not end within {timeout}s\n{stack.logs()}")


def _blog_posts(stack: Stack, titles: list[str]) -> None:
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    form = urllib.parse.urlencode({"password": stack.env["BLOG_ADMIN_PASSWORD"]}).encode()
    opener.open(stack.blog + "login", data=form, timeout=30)
    for title in titles:
        opener.open(stack.blog + "posts", data=urllib.parse.urlencode({"title": title, "body": "text"}).encode(),
                    timeout=30)


def _rows(stack: Stack) -> list[str]:
    out = stack.exec("postgres", "psql", "-h", "/tmp", "-U", "postgres", "-d", "blog", "-tAc",
                     "SELECT title FROM posts ORDER BY id")
    return out.splitlines()


def test_backup_and_restore_the_blog_through_the_stacks_api(stack: Stack) -> None:
    try:
        _wait(stack.api + "health")
        _wait(stack.blog)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{stack.logs()}") from None
    assert "created sitesnap repository" in stack.exec("serve", "sitesnap", "init")
    token = json.loads(stack.exec("serve", "sitesnap", "--json", "token", "create", "--role", "admin"))["token"]
    titles = ["hello", "second post", "third post"]
    _blog_posts(stack, titles)
    assert _rows(stack) == ["hello", "second post", "third post"]

    status, started = _api(stack, token, "POST", "backup/create", {"type": "full"})
    assert status == 202, started
    backup = _run(stack, token, started["run_id"])
    assert backup["status"] == "completed", f"{backup}\n{stack.logs()}"
    assert backup["worker"].startswith("sitesnap"), "the backup ran on the Celery worker"
    snapshot = backup["result"]["snapshot_id"]

    stack.exec("postgres", "psql", "-h", "/tmp", "-U", "postgres", "-d", "blog", "-c", "DELETE FROM posts WHERE id > 1")
    assert _rows(stack) == ["hello"]
    status, refused = _api(stack, token, "POST", f"backup/{snapshot}/restore", {"sources": ["posts"]})
    assert status == 400 and "confirm" in refused["message"]
    status, started = _api(stack, token, "POST", f"backup/{snapshot}/restore",
                           {"sources": ["posts"], "confirm": "blog"})
    assert status == 202 and started["plan"]["overwrites_live_data"] is True, started
    restore = _run(stack, token, started["run_id"])
    assert restore["status"] == "completed", f"{restore}\n{stack.logs()}"
    assert _rows(stack) == ["hello", "second post", "third post"]
    with urllib.request.urlopen(stack.blog, timeout=30) as response:
        assert [p["title"] for p in json.loads(response.read())["posts"]] == titles[::-1]
