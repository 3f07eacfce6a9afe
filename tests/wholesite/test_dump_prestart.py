"""A site whose first source is a database starts its dump before loading the index, and still ends it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import sitesnap.engine.site.backup as site_engine
from sitesnap.config.loader import load_config
from sitesnap.engine.site import backup_site
from sitesnap.repository.repository import Repository
from sitesnap.storage.local import LocalStorage

KDF = {"name": "scrypt", "n": 1024, "r": 8, "p": 1}


def _site(tmp_path: Path, *, with_files: bool) -> Path:
    db = sqlite3.connect(tmp_path / "blog.db")
    db.execute("CREATE TABLE post (id INTEGER PRIMARY KEY, body TEXT)")
    db.executemany("INSERT INTO post (body) VALUES (?)", [(f"post {i}",) for i in range(50)])
    db.commit()
    db.close()
    (tmp_path / "uploads").mkdir()
    (tmp_path / "uploads" / "a.jpg").write_bytes(b"jpeg")
    files = '[[sources]]\nname = "uploads"\ntype = "files"\npath = "uploads"\n' if with_files else ""
    cfg = tmp_path / "sitesnap.toml"
    cfg.write_text('[site]\nname = "blog"\n[[sources]]\nname = "db"\ntype = "sqlite"\npath = "blog.db"\n' + files
                   + '[[repositories]]\nname = "local"\nurl = "repo"\npassword = { env = "SITESNAP_PASSWORD" }\n')
    return cfg


@pytest.mark.parametrize("with_files", [False, True])
def test_first_dump_overlaps_the_index_load_only_when_it_is_archived_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, with_files: bool
) -> None:
    monkeypatch.setenv("SITESNAP_PASSWORD", "pw")
    cfg = load_config(_site(tmp_path, with_files=with_files))
    repo = Repository.init(LocalStorage(str(tmp_path / "repo")), "pw", kdf=KDF)
    events: list[str] = []
    real_start, real_load = site_engine._start_dump, Repository.load_index

    def start(src: site_engine.StreamSource):  # type: ignore[no-untyped-def]
        events.append("dump")
        return real_start(src)

    def load(self: Repository) -> None:
        events.append("index")
        real_load(self)

    monkeypatch.setattr(site_engine, "_start_dump", start)
    monkeypatch.setattr(Repository, "load_index", load)
    try:
        result = backup_site(repo, cfg)
    finally:
        repo.close()
    # Files are archived first, so a dump started early would wait for them with its transaction open.
    assert events[:2] == (["index", "dump"] if with_files else ["dump", "index"])
    assert {r["name"]: r.get("tables") for r in result.sources}["db"] == {"post": 50}
