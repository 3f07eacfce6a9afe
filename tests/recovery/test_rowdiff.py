"""``diff --source/--table`` on real databases: SQLite files, PostgreSQL and MariaDB dumps.

Between two site snapshots 3 rows of ``item`` are updated, 2 deleted and 5
inserted; the summary and the row diff must name exactly those, and leave
the untouched table alone.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import CliResult
from tests.integration.test_cli_errors import assert_one_line_error
from tests.recovery.sites import DELETED, INSERTED, NEW_NAME, UPDATED, change, cli, fill, write_site


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
        assert_one_line_error(CliResult(proc.returncode, proc.stdout, proc.stderr), 2, *words)
