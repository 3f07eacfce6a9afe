"""Source kinds are found through one registry; the database restore order is written once."""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import pytest

from sitesnap.errors import ConfigError, RestoreError
from sitesnap.progress import Tracker
from sitesnap.sources import registry
from sitesnap.sources.db import DumpInfo, open_database_source
from sitesnap.sources.files import FilesKind
from sitesnap.sources.kind import StreamSource, TreeSource
from sitesnap.sources.sqlite import SqliteSource
from sitesnap.sources.swap import DatabaseRestore, SwapResult

ENGINE = Path(__file__).resolve().parents[2] / "src" / "sitesnap" / "engine"


@dataclass
class Spec:
    name: str
    type: str
    path: str | None = None
    url: str | None = None
    exclude: list[str] = field(default_factory=list)


def test_every_builtin_type_maps_to_a_kind_of_that_type() -> None:
    shapes = {"files": TreeSource, "sqlite": StreamSource, "postgres": StreamSource, "mysql": StreamSource}
    for type_name, shape in shapes.items():
        cls = registry.lookup(type_name)
        assert cls.type == type_name and issubclass(cls, shape)
    assert registry.lookup("postgresql") is registry.lookup("postgres")
    assert registry.lookup("mariadb") is registry.lookup("mysql")


def test_kinds_say_where_they_live_in_the_snapshot(tmp_path: Path) -> None:
    files = registry.open_source(Spec("uploads", "files", path=str(tmp_path), exclude=["*.tmp"]))
    assert isinstance(files, FilesKind) and files.tree_path() == "/files/uploads"
    assert files.excluder().excluded("a.tmp", False) and not files.excluder().excluded("a.jpg", False)
    db = registry.open_source(Spec("main", "sqlite", path=str(tmp_path / "x.db")))
    assert db.tree_path() == "/db/main.sqlite" and db.origin() == str(tmp_path / "x.db")
    pg = registry.open_source(Spec("blog", "postgres", url="postgresql://u:secret@127.0.0.1/blog"))
    my = registry.open_source(Spec("shop", "mysql", url="mysql://u:secret@127.0.0.1/shop"))
    assert pg.tree_path() == "/db/blog.pg.sql" and my.tree_path() == "/db/shop.mysql.sql"
    assert "secret" not in pg.origin() + my.origin()


def test_unknown_or_incomplete_sources_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="unknown source type 'oracle'") as err:
        registry.open_source(Spec("x", "oracle"))
    assert "sqlite" in (err.value.hint or "")
    with pytest.raises(ConfigError, match="needs a path"):
        registry.open_source(Spec("x", "sqlite"))
    with pytest.raises(ConfigError, match="unknown database kind 'files'"):
        open_database_source("files", path="/tmp")


def test_a_new_kind_plugs_in_with_one_registration(tmp_path: Path) -> None:
    class ShippedSqlite(SqliteSource):
        type = "sqlite-shipped"
        extension = "shipped.sqlite"

    registry.register("sqlite-shipped", ShippedSqlite)
    try:
        kind = registry.open_source(Spec("main", "sqlite-shipped", path=str(tmp_path / "x.db")))
        assert isinstance(kind, ShippedSqlite) and kind.tree_path() == "/db/main.shipped.sqlite"
        assert "sqlite-shipped" in registry.kinds()
        assert isinstance(open_database_source("sqlite-shipped", path=str(tmp_path / "x.db")), ShippedSqlite)
    finally:
        registry._registered.pop("sqlite-shipped")


class _DictRestore(DatabaseRestore):
    """A database held in dicts: enough to watch the template's order of steps."""

    kind = "dict"

    def __init__(self, live: dict[str, dict[str, int]], fail_at: str = "") -> None:
        super().__init__("dict://live")
        self.live, self.fail_at = live, fail_at
        self.steps: list[str] = []

    def _step(self, name: str) -> None:
        self.steps.append(name)
        if name == self.fail_at:
            raise RestoreError(f"{name} failed")

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        self._step("session")
        yield
        self.steps.append("end")

    def create_temp(self) -> None:
        self._step("create")
        self.live["temp"] = {}

    def load(self, stream: BinaryIO, tracker: Tracker) -> int:
        self._step("load")
        data = stream.read()
        self.live["temp"] = {line.split(b"=")[0].decode(): int(line.split(b"=")[1]) for line in data.split()}
        return len(data)

    def count_temp(self) -> dict[str, int]:
        self._step("count")
        return dict(self.live["temp"])

    def swap(self, tables: dict[str, int]) -> SwapResult:
        self._step("swap")
        created = "db" not in self.live
        self.live["db"] = self.live.pop("temp")
        return SwapResult("create" if created else "swap", created=created)

    def drop_temp(self) -> None:
        self.steps.append("drop")
        self.live.pop("temp", None)


def _info(tables: dict[str, int]) -> DumpInfo:
    return DumpInfo("dict", "lines", "1", "t", "1", tables, "db")


def test_the_template_loads_verifies_swaps_and_always_drops_the_temp() -> None:
    live: dict[str, dict[str, int]] = {"db": {"old": 1}}
    restore = _DictRestore(live)
    report = restore.run(io.BytesIO(b"posts=3 tags=0"), _info({"posts": 3, "tags": 0}), lambda _e: None)
    assert restore.steps == ["session", "create", "load", "count", "swap", "drop", "end"]
    assert live == {"db": {"posts": 3, "tags": 0}}
    assert (report.method, report.created, report.tables, report.bytes_read) == ("swap", False, live["db"], 14)


@pytest.mark.parametrize("fail_at", ["load", "count", "swap"])
def test_a_failed_step_drops_the_temp_and_leaves_the_target(fail_at: str) -> None:
    live: dict[str, dict[str, int]] = {"db": {"old": 1}}
    restore = _DictRestore(live, fail_at)
    with pytest.raises(RestoreError, match=f"{fail_at} failed"):
        restore.run(io.BytesIO(b"posts=3"), _info({"posts": 3}), lambda _e: None)
    assert restore.steps[-2:] == [fail_at, "drop"] and live == {"db": {"old": 1}}


def test_counts_that_differ_from_the_record_stop_before_the_swap() -> None:
    live: dict[str, dict[str, int]] = {}
    restore = _DictRestore(live)
    with pytest.raises(RestoreError, match=r"posts: 2 != 3"):
        restore.run(io.BytesIO(b"posts=2"), _info({"posts": 3}), lambda _e: None)
    assert "swap" not in restore.steps and live == {}
    with pytest.raises(RestoreError, match="a sqlite dump cannot be restored into dict://live"):
        _DictRestore(live).run(io.BytesIO(b""), DumpInfo("sqlite", "", "", "", "", {}, "x"), lambda _e: None)


def test_the_engine_neither_switches_on_source_types_nor_imports_drivers() -> None:
    # Comparisons (==, in, case, [key]) with any type; dict literals keyed by a database type.
    # ("files" as a dict key is also a count of files, as in ``{"files": 3}``.)
    type_string = re.compile(r"""(==|!=|\bin\b|case|\[)[ \t]*\(?[ \t]*["'](sqlite|postgres|mysql|files)["']"""
                             r"""|\{[ \t]*["'](sqlite|postgres|mysql)["']""")
    for path in ENGINE.rglob("*.py"):
        text = path.read_text()
        assert not type_string.search(text), f"{path} compares a source type string"
        assert not re.search(r"^\s*(import|from)\s+(psycopg|pymysql)\b", text, re.M), f"{path} imports a driver"
