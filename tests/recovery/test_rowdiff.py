"""``diff --source/--table`` on real databases: SQLite files, PostgreSQL and MariaDB dumps.

Between two site snapshots 3 rows of ``item`` are updated, 2 deleted and 5
inserted; the summary and the row diff must name exactly those, and leave
the untouched table alone.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest
from tests.conftest import SITESNAP
from tests.integration.test_cli_errors import assert_one_line_error
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


def ok_json(root: Path, *args: str) -> Any:
    proc = cli(root, *args, "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def two_snapshots(root: Path, kind: str, target: str) -> tuple[str, str]:
    assert cli(root, "backup").returncode == 0
    change(kind, target)
    (root / "public" / "index.html").write_text("<h1>v2</h1>")
    second = cli(root, "backup")
    assert second.returncode == 0, second.stderr
    snaps = ok_json(root, "snapshots")
    return snaps[0]["id"], snaps[1]["id"]


@pytest.fixture(params=["sqlite", "postgres", "mysql"])
def database(request: pytest.FixtureRequest, tmp_path: Path, pg_db: Callable[[], str],
             my_db: Callable[[], str]) -> tuple[str, str]:
    kind = str(request.param)
    target = {"sqlite": lambda: str(tmp_path / "shop.db"), "postgres": pg_db, "mysql": my_db}[kind]()
    fill(kind, target)
    return kind, target


def test_row_diff_names_exactly_the_changed_rows(tmp_path: Path, database: tuple[str, str]) -> None:
    kind, target = database
    write_site(tmp_path, kind, target)
    a, b = two_snapshots(tmp_path, kind, target)

    summary = ok_json(tmp_path, "diff", a, b, "--source", "db")
    tables = {t["table"].rsplit(".", 1)[-1]: t for t in summary["tables"]}
    assert set(tables) == {"item", "other"}
    assert {k: tables["item"][k] for k in ("added", "removed", "changed", "rows_before", "rows_after")} == {
        "added": 5, "removed": 2, "changed": 3, "rows_before": 30, "rows_after": 33}
    assert (tables["other"]["added"], tables["other"]["removed"], tables["other"]["changed"]) == (0, 0, 0)

    rows = ok_json(tmp_path, "diff", a, b, "--source", "db", "--table", "item")["table"]
    assert rows["key_columns"] == ["id"] and rows["truncated"] is False
    by_change: dict[str, list[int]] = {"+": [], "-": [], "M": []}
    for row in rows["rows"]:
        by_change[row["change"]].append(int(row["key"]["id"]))
    assert by_change == {"+": INSERTED, "-": DELETED, "M": UPDATED}
    updated = next(r for r in rows["rows"] if r["change"] == "M")
    assert updated["old"]["name"] == "item 2" and updated["new"]["name"] == NEW_NAME
    assert updated["old"]["data"] == "\\x0200ff" and updated["new"]["data"] == "\\x0001"
    added = next(r for r in rows["rows"] if r["change"] == "+")
    assert added["old"] is None and added["new"]["name"] == "new 31" and added["new"]["price"] is None
    removed = next(r for r in rows["rows"] if r["change"] == "-")
    assert removed["new"] is None and removed["old"]["price"] == "1000"

    limited = ok_json(tmp_path, "diff", a, b, "--source", "db", "--table", "item", "--limit", "4")["table"]
    assert limited["truncated"] is True and len(limited["rows"]) == 4
    assert [int(r["key"]["id"]) for r in limited["rows"]] == [2, 5, 7, 10]

    text = cli(tmp_path, "diff", a, b, "--source", "db", "--table", "item")
    assert text.returncode == 0, text.stderr
    assert "M    id='2'" in text.stdout and "+    id='35'" in text.stdout and "-    id='11'" in text.stdout
    assert "5 added, 2 removed, 3 changed" in text.stdout

    files = ok_json(tmp_path, "diff", a, b, "--source", "web")
    assert [c["change"] for c in files["changes"]] == ["M"] and files["changes"][0]["path"].endswith("index.html")


def test_row_diff_user_errors(tmp_path: Path) -> None:
    target = str(tmp_path / "shop.db")
    fill("sqlite", target)
    write_site(tmp_path, "sqlite", target)
    a, b = two_snapshots(tmp_path, "sqlite", target)
    for args, words in (
        (("--source", "nope"), ("no source", "nope")),
        (("--source", "db", "--table", "missing"), ("missing",)),
        (("--table", "item"), ("--source",)),
        (("--source", "web", "--table", "item"), ("database source",)),
    ):
        proc = cli(tmp_path, "diff", a, b, *args)
        assert_one_line_error(type("R", (), {"code": proc.returncode, "stdout": proc.stdout,
                                             "stderr": proc.stderr})(), 2, *words)
