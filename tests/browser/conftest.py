"""A real ``sitesnap serve`` with real data, and Debian's Chromium driven by Playwright.

The served site has a file tree, an SQLite database and a PostgreSQL database
(a unique one per session, dropped afterwards, with any database restored
next to it).  Users come from ``sitesnap user add`` like an operator's; the
server is the CLI's own ``serve`` in a subprocess.  One incremental backup
and one restore drill are made through the API first, so the dashboard has
history to show.

Screenshots go to ``test-artifacts/screenshots/`` and are copied into
``docs/img/console/`` for the documentation.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import secrets
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from sitesnap.format.crypto import FAST_TEST_KDF
from sitesnap.repository.repository import Repository
from sitesnap.storage.local import LocalStorage

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ROOT = Path(__file__).resolve().parents[2]
CONSOLE_DIR = ROOT / "src" / "sitesnap" / "web" / "static" / "console"
SHOTS = ROOT / "test-artifacts" / "screenshots"
DOC_SHOTS = ROOT / "docs" / "img" / "console"
SITESNAP = str(Path(sys.executable).with_name("sitesnap"))
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
REPO_PASSWORD = "console repository passphrase"
USERS = {"admin": ("admin", "admin-password-1"), "viewer": ("viewer", "viewer-password-1")}
SITE = "blog"
ORDERS = 40


def pg_url(db: str) -> str:
    return f"postgresql://postgres@127.0.0.1:5432/{db}"


@dataclass
class Served:
    """The running server and what it serves."""

    url: str
    root: Path
    config: Path
    pg_db: str
    restored_db: str
    proc: subprocess.Popen[bytes]
    log: Path
    seeded: dict[str, Any] = field(default_factory=dict)


class ApiClient:
    """A cookie-session client of the REST API, as the console is (login, CSRF header)."""

    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/") + "/api/v1/"
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        self.csrf = ""

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json", "X-CSRF-Token": self.csrf}
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with self.opener.open(request, timeout=60) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def login(self, name: str, password: str) -> None:
        status, me = self.call("POST", "auth/login", {"name": name, "password": password})
        assert status == 200, me
        self.csrf = me["csrf_token"]

    def wait_run(self, run_id: str, timeout: float = 120.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, run = self.call("GET", f"runs/{run_id}")
            assert status == 200, run
            if run["status"] in ("completed", "failed", "cancelled"):
                return dict(run)
            time.sleep(0.3)
        raise AssertionError(f"run {run_id} did not end within {timeout}s")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _drop_databases(prefix: str) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (prefix + "%",)).fetchall()
        for (name,) in rows:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _write_site(root: Path, pg_db: str) -> Path:
    uploads = root / "uploads"
    (uploads / "2026" / "05").mkdir(parents=True)
    for i in range(12):
        (uploads / "2026" / "05" / f"photo-{i}.jpg").write_bytes(secrets.token_bytes(40_000 + 1000 * i))
    (uploads / "about.md").write_text("# About\n\nA small blog.\n" * 50)
    with sqlite3.connect(root / "blog.db") as conn:
        conn.execute("CREATE TABLE posts (id INTEGER PRIMARY KEY, title TEXT, body TEXT)")
        conn.executemany("INSERT INTO posts (title, body) VALUES (?, ?)",
                         [(f"post {i}", "lorem ipsum " * 40) for i in range(60)])
    conn.close()
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(pg_db)))
    with psycopg.connect(pg_url(pg_db), autocommit=True) as conn:
        conn.execute("CREATE TABLE orders (id serial PRIMARY KEY, item text NOT NULL, cents integer NOT NULL)")
        conn.execute("INSERT INTO orders (item, cents) SELECT 'item ' || g, g * 100 FROM generate_series(1, %s) g",
                      (ORDERS,))
    Repository.init(LocalStorage(root / "repo"), REPO_PASSWORD, kdf=FAST_TEST_KDF).close()
    config = root / "sitesnap.toml"
    config.write_text(f"""[site]
name = "{SITE}"
description = "The console test blog"

[[sources]]
name = "uploads"
type = "files"
path = "uploads"

[[sources]]
name = "posts"
type = "sqlite"
path = "blog.db"

[[sources]]
name = "shop"
type = "postgres"
url = "{pg_url(pg_db)}"

[[repositories]]
name = "local"
url = "repo"
password = {{ env = "SITESNAP_CONSOLE_PASSWORD" }}
quota = "1GiB"

[runtime]
state_dir = "state"
""")
    return config


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SITESNAP_")}
    # The suite logs in from one address far more often than people do: lift the limit of 10 a minute.
    env.update(SITESNAP_CONSOLE_PASSWORD=REPO_PASSWORD, PYTHONUNBUFFERED="1", SITESNAP_LOGIN_LIMIT="200 per minute")
    return env


@pytest.fixture(scope="session")
def console_built() -> Path:
    if not (CONSOLE_DIR / "index.html").is_file():
        pytest.fail(f"the console is not built in {CONSOLE_DIR}: run scripts/setup.sh "
                    "(or: cd frontend && npm ci && npm run build)")
    return CONSOLE_DIR


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory, console_built: Path) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("console-site")
    pg_db = f"sitesnap_console_{secrets.token_hex(4)}"
    try:
        config = _write_site(root, pg_db)
        for name, password in USERS.values():
            secret = root / f"{name}.password"
            secret.write_text(password + "\n")
            role = "admin" if name == "admin" else "viewer"
            subprocess.run([SITESNAP, "-c", str(config), "user", "add", name, "--role", role, "--password-file",
                            str(secret)], env=_env(), check=True, capture_output=True, timeout=120)
        port = _free_port()
        log = root / "serve.log"
        with log.open("wb") as out:
            proc = subprocess.Popen([SITESNAP, "-c", str(config), "serve", "--host", "127.0.0.1", "--port", str(port),
                                     "--no-scheduler"], env=_env(), stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL)
        served = Served(f"http://127.0.0.1:{port}/", root, config, pg_db, f"{pg_db}_restored", proc, log)
        try:
            _wait_healthy(served)
            _seed(served)
            yield served
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=20)
    finally:
        _drop_databases(pg_db)


def _wait_healthy(served: Served, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if served.proc.poll() is not None:
            raise AssertionError(f"sitesnap serve exited: {served.log.read_text()}")
        try:
            with urllib.request.urlopen(served.url + "api/v1/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"sitesnap serve did not answer within {timeout}s: {served.log.read_text()}")


def _seed(served: Served) -> None:
    """History for the dashboard: one incremental backup and one restore drill, through the API."""
    client = ApiClient(served.url)
    client.login(*USERS["admin"])
    status, started = client.call("POST", "backup/create", {"type": "incremental", "tags": ["seed"]})
    assert status == 202, started
    run = client.wait_run(started["run_id"])
    assert run["status"] == "completed", run
    status, drill = client.call("POST", "drills", {"snapshot": "latest"})
    assert status == 202, drill
    served.seeded = {"backup": run, "drill": client.wait_run(drill["run_id"], timeout=180)}


@pytest.fixture(scope="session")
def api(served: Served) -> ApiClient:
    client = ApiClient(served.url)
    client.login(*USERS["admin"])
    return client


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (scripts/setup.sh does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@dataclass
class Console:
    """One browser tab on the console, with what it logged."""

    page: Any
    base: str
    messages: list[str]
    # HTTP statuses a test provokes on purpose (the browser logs every failed request).
    expected_statuses: set[int] = field(default_factory=lambda: {401})

    def open(self, route: str = "") -> None:
        self.page.goto(self.base + (f"#/{route}" if route else ""))

    def login(self, who: str) -> None:
        name, password = USERS[who]
        self.open("login")
        self.page.fill("#login-name", name)
        self.page.fill("#login-password", password)
        self.page.click("[data-test=login-submit]")
        self.page.wait_for_url("**/#/dashboard")

    def shot(self, name: str, *, full_page: bool = True) -> Path:
        """Save a screenshot as a test artifact and as the docs' picture."""
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        DOC_SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOC_SHOTS / f"{name}.png")
        return path

    def errors(self) -> list[str]:
        """Console errors and warnings, except failed requests a test expected.

        401 is always expected: the console asks ``auth/me`` at start-up, before logging in.
        """
        expected = tuple(f"status of {code} " for code in self.expected_statuses)
        return [m for m in self.messages if not any(e in m for e in expected)]


def _context_console(browser: Any, served: Served, **context: Any) -> Iterator[Console]:
    options = {"viewport": {"width": 1280, "height": 860}, "locale": "en-US", "timezone_id": "Europe/Berlin"}
    options.update(context)
    ctx = browser.new_context(**options)
    page = ctx.new_page()
    page.set_default_timeout(20_000)
    messages: list[str] = []
    page.on("console", lambda m: messages.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda exc: messages.append(f"pageerror: {exc}"))
    console = Console(page, served.url, messages)
    try:
        yield console
    finally:
        ctx.close()
    assert console.errors() == [], f"the console logged errors: {console.errors()}"


@pytest.fixture
def console(browser: Any, served: Served) -> Iterator[Console]:
    """A fresh browser context (no cookies) at laptop size, English, Berlin time."""
    yield from _context_console(browser, served)


@pytest.fixture
def make_console(browser: Any, served: Served) -> Iterator[Any]:
    """``make_console(**context_options)`` for other sizes, languages and zones."""
    made: list[Iterator[Console]] = []

    def make(**context: Any) -> Console:
        gen = _context_console(browser, served, **context)
        made.append(gen)
        return next(gen)

    yield make
    for gen in made:
        with pytest.raises(StopIteration):
            next(gen)
