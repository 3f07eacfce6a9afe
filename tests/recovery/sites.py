"""A small shop site for the partial-recovery tests: a database source of each kind and a files source."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import psycopg
import pymysql
from tests.conftest import SITESNAP
from tests.sources.conftest import MY_ADMIN, my_url, pg_url

from sitesnap.format.crypto import FAST_TEST_KDF
from sitesnap.repository.repository import Repository
from sitesnap.storage.local import LocalStorage

PASSWORD = "row diff password"
UPDATED, DELETED, INSERTED = [2, 5, 7], [10, 11], [31, 32, 33, 34, 35]
NEW_NAME = "tab\there, new\nline, 'quote' and \\ backslash"

CREATE = {
    "sqlite": ["CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT, price INTEGER, data BLOB)",
               "CREATE TABLE other (code TEXT, lang TEXT, label TEXT, PRIMARY KEY (code, lang))"],
    "postgres": ["CREATE TABLE item (id integer PRIMARY KEY, name text, price integer, data bytea)",
                 "CREATE TABLE other (code text, lang text, label text, PRIMARY KEY (code, lang))"],
    "mysql": ["CREATE TABLE item (id INT PRIMARY KEY, name TEXT, price INT, data BLOB) ENGINE=InnoDB",
              "CREATE TABLE other (code VARCHAR(10), lang VARCHAR(5), label TEXT, PRIMARY KEY (code, lang))"],
}
MARK = {"sqlite": "?", "postgres": "%s", "mysql": "%s"}


def execute(kind: str, target: str, statements: list[tuple[str, list[tuple[Any, ...]]]]) -> None:
    """Run each (SQL, parameter rows) on the database; ``?`` in SQL is the driver's placeholder."""
    if kind == "sqlite":
        conn: Any = sqlite3.connect(target)
    elif kind == "postgres":
        conn = psycopg.connect(pg_url(target))
    else:
        conn = pymysql.connect(**MY_ADMIN, database=target)
    try:
        cur = conn.cursor()
        for sql, params in statements:
            sql = sql.replace("?", MARK[kind])
            if params:
                cur.executemany(sql, params)
            else:
                cur.execute(sql)
        conn.commit()
    finally:
        conn.close()


def fill(kind: str, target: str) -> None:
    rows = [(i, f"item {i}", i * 100, bytes([i, 0, 255])) for i in range(1, 31)]
    labels = [(f"c{i}", lang, f"label {i} {lang}") for i in range(10) for lang in ("en", "zh")]
    execute(kind, target, [(sql, []) for sql in CREATE[kind]] + [
        ("INSERT INTO item (id, name, price, data) VALUES (?, ?, ?, ?)", rows),
        ("INSERT INTO other (code, lang, label) VALUES (?, ?, ?)", labels),
    ])


def change(kind: str, target: str) -> None:
    execute(kind, target, [
        ("UPDATE item SET name = ?, data = ? WHERE id = ?", [(NEW_NAME, b"\x00\x01", i) for i in UPDATED]),
        ("DELETE FROM item WHERE id = ?", [(i,) for i in DELETED]),
        ("INSERT INTO item (id, name, price, data) VALUES (?, ?, ?, ?)",
         [(i, f"new {i}", None, None) for i in INSERTED]),
    ])


def write_site(root: Path, kind: str, target: str) -> None:
    location = {"sqlite": f'path = "{target}"', "postgres": f'url = "{pg_url(target)}"',
                "mysql": f'url = "{my_url(target)}"'}[kind]
    (root / "public").mkdir()
    (root / "public" / "index.html").write_text("<h1>v1</h1>")
    (root / "sitesnap.toml").write_text(f"""
[site]
name = "shop"

[[sources]]
name = "db"
type = "{kind}"
{location}

[[sources]]
name = "web"
type = "files"
path = "public"

[[repositories]]
name = "local"
url = "backups"
password = {{ env = "ROWDIFF_PASSWORD" }}
""")
    Repository.init(LocalStorage(root / "backups"), PASSWORD, kdf=FAST_TEST_KDF).close()


def cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SITESNAP_")}
    env["ROWDIFF_PASSWORD"] = PASSWORD
    return subprocess.run([SITESNAP, "-c", "sitesnap.toml", *args], cwd=root, env=env, text=True,
                          capture_output=True, timeout=180, stdin=subprocess.DEVNULL)
