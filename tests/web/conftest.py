"""A served site for the web tests: files + SQLite (+ PostgreSQL when asked), a repository, an app.

Everything is real: the repository on disk, the catalog in SQLite, the
PostgreSQL server of the machine (a unique database per test, dropped
afterwards).  Tokens for each role come from the catalog like any client's.
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient
from psycopg import sql

from sitesnap.format.crypto import FAST_TEST_KDF
from sitesnap.repository.repository import Repository
from sitesnap.storage.local import LocalStorage
from sitesnap.web import create_app, web_state

PASSWORD = "correct horse battery staple"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
ROLES = ("viewer", "operator", "admin")


def pg_url(db: str) -> str:
    return f"postgresql://postgres@127.0.0.1:5432/{db}"


@dataclass
class Site:
    root: Path
    config: Path
    sqlite: Path
    uploads: Path
    pg_db: str | None = None
    extra_dbs: list[str] = field(default_factory=list)


def _create_pg(name: str) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _drop_pg(name: str) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (name + "%",)).fetchall()
        for (found,) in rows:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(found)))


def make_site(root: Path, *, postgres: bool = False, public_metrics: bool = False) -> Site:
    """Write a site (uploads, an SQLite blog database, optionally a PostgreSQL one) and its config."""
    uploads = root / "uploads"
    (uploads / "2026").mkdir(parents=True)
    (uploads / "2026" / "cat.jpg").write_bytes(secrets.token_bytes(50_000))
    (uploads / "notes.txt").write_text("hello\n")
    db = root / "blog.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE posts (id INTEGER PRIMARY KEY, title TEXT)")
        conn.executemany("INSERT INTO posts (title) VALUES (?)", [(f"post {i}",) for i in range(25)])
    conn.close()
    site = Site(root, root / "sitesnap.toml", db, uploads)
    sources = ['[[sources]]\nname = "uploads"\ntype = "files"\npath = "uploads"\n',
               '[[sources]]\nname = "blog"\ntype = "sqlite"\npath = "blog.db"\n']
    if postgres:
        site.pg_db = f"sitesnap_w_{secrets.token_hex(4)}"
        _create_pg(site.pg_db)
        with psycopg.connect(pg_url(site.pg_db), autocommit=True) as conn:
            conn.execute("CREATE TABLE orders (id serial PRIMARY KEY, item text NOT NULL)")
            conn.execute("INSERT INTO orders (item) SELECT 'item ' || g FROM generate_series(1, 40) g")
        sources.append(f'[[sources]]\nname = "shop"\ntype = "postgres"\nurl = "{pg_url(site.pg_db)}"\n')
    Repository.init(LocalStorage(root / "repo"), PASSWORD, kdf=FAST_TEST_KDF).close()
    site.config.write_text(
        '[site]\nname = "blog"\n\n' + "\n".join(sources)
        + '\n[[repositories]]\nname = "main"\nurl = "repo"\npassword = { env = "SITESNAP_TEST_PASSWORD" }\n'
        + f"\n[web]\npublic_metrics = {'true' if public_metrics else 'false'}\n"
        + '\n[runtime]\nstate_dir = "state"\n')
    return site


@pytest.fixture
def site_factory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Site]]:
    monkeypatch.setenv("SITESNAP_TEST_PASSWORD", PASSWORD)
    made: list[Site] = []

    def make(**kwargs: Any) -> Site:
        site = make_site(tmp_path / f"site{len(made)}", **kwargs)
        made.append(site)
        return site

    yield make
    for site in made:
        for name in [site.pg_db, *site.extra_dbs]:
            if name:
                _drop_pg(name)


@pytest.fixture
def site(site_factory: Callable[..., Site]) -> Site:
    return site_factory()


@pytest.fixture
def app(site: Site) -> Iterator[Flask]:
    flask_app = create_app(site.config, testing=True, settings={"SITESNAP_SSE_POLL": 0.05})
    yield flask_app
    join_jobs(flask_app)
    web_state(flask_app).catalog.close()


def join_jobs(flask_app: Flask, timeout: float = 60.0) -> None:
    """Wait for the app's background jobs, so no test leaves a thread writing to a deleted directory."""
    deadline = time.monotonic() + timeout
    for thread in list(web_state(flask_app).threads):
        thread.join(max(0.1, deadline - time.monotonic()))


@pytest.fixture
def tokens(app: Flask) -> dict[str, str]:
    """An API token per role (and ``"none"``: no token)."""
    accounts = web_state(app).accounts
    return {role: accounts.create_token(role, name=f"test-{role}")[1] for role in ROLES}


def bearer(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def wait_run(client: FlaskClient, run_id: str, token: str, timeout: float = 90.0) -> dict[str, Any]:
    """Poll ``GET /api/v1/runs/<id>`` until the run ends; returns it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = client.get(f"/api/v1/runs/{run_id}", headers=bearer(token)).get_json()
        if run["status"] in ("completed", "failed", "cancelled"):
            return dict(run)
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} did not end in {timeout}s")
