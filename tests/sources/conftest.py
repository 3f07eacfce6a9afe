"""Unique, cleaned-up databases on the real PostgreSQL and MariaDB servers of the machine."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pymysql
import pytest
from psycopg import sql

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
MY_ADMIN = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": ""}


def pg_url(db: str) -> str:
    return f"postgresql://postgres@127.0.0.1:5432/{db}"


def my_url(db: str) -> str:
    return f"mysql://root@127.0.0.1:3306/{db}"


def pg_databases(prefix: str) -> list[str]:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (prefix + "%",))
        return sorted(r[0] for r in rows.fetchall())


def my_databases(prefix: str) -> list[str]:
    conn = pymysql.connect(**MY_ADMIN)
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW DATABASES")
            return sorted(r[0] for r in cur.fetchall() if r[0].startswith(prefix))
    finally:
        conn.close()


@pytest.fixture
def pg_db() -> Iterator[Callable[[], str]]:
    """Factory of fresh PostgreSQL database names (created); all dropped afterwards, with side copies."""
    made: list[str] = []

    def make(create: bool = True) -> str:
        name = f"sitesnap_t_{secrets.token_hex(4)}"
        made.append(name)
        if create:
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return name

    yield make
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        for name in made:
            for found in pg_databases(name):
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(found)))


@pytest.fixture
def my_db() -> Iterator[Callable[..., str]]:
    """Factory of fresh MariaDB database names (created); all dropped afterwards, with side copies."""
    made: list[str] = []

    def make(create: bool = True) -> str:
        name = f"sitesnap_t_{secrets.token_hex(4)}"
        made.append(name)
        if create:
            conn = pymysql.connect(**MY_ADMIN)
            with conn.cursor() as cur:
                cur.execute(f"CREATE DATABASE `{name}`")
            conn.close()
        return name

    yield make
    conn = pymysql.connect(**MY_ADMIN)
    try:
        with conn.cursor() as cur:
            for name in made:
                for found in my_databases(name):
                    cur.execute(f"DROP DATABASE IF EXISTS `{found}`")
    finally:
        conn.close()


def pg_connect(db: str, **kwargs: Any) -> psycopg.Connection[Any]:
    return psycopg.connect(pg_url(db), **kwargs)


def my_connect(db: str, **kwargs: Any) -> pymysql.connections.Connection[Any]:
    return pymysql.connect(**MY_ADMIN, database=db, **kwargs)
