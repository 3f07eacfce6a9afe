"""Catalog databases for the tests: an SQLite file, and a uniquely named database
on the real PostgreSQL and MariaDB servers, dropped afterwards."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pymysql
import pytest

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
MYSQL_ADMIN = {"host": "127.0.0.1", "port": 3306, "user": "root"}
BACKENDS = ["sqlite", "postgresql", "mariadb"]


def _fresh_database(backend: str, tmp_path: Path) -> Iterator[str]:
    name = f"sitesnap_cat_{uuid.uuid4().hex[:12]}"
    if backend == "sqlite":
        yield str(tmp_path / "catalog" / "catalog.db")
    elif backend == "postgresql":
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"postgresql://postgres@127.0.0.1:5432/{name}"
        finally:
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        conn = pymysql.connect(**MYSQL_ADMIN)
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        try:
            yield f"mysql://root@127.0.0.1:3306/{name}"
        finally:
            with conn.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
            conn.close()


@pytest.fixture(params=BACKENDS)
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL (or SQLite path) of an empty database on each backend in turn."""
    yield from _fresh_database(request.param, tmp_path)
