"""A site directory with a continuous SQLite source, a repository and a config naming both."""

from __future__ import annotations

from pathlib import Path

from sitesnap.config.schema import SqliteSource
from sitesnap.format.crypto import FAST_TEST_KDF
from sitesnap.repository.repository import Repository
from sitesnap.storage.local import LocalStorage

from .writers import make_wal_db

PASSWORD = "correct horse battery staple"


def make_site(root: Path) -> tuple[Path, Path, Path]:
    """(config, database, repository) under ``root``; the repository is initialised."""
    db = root / "site.db"
    make_wal_db(db)
    repo_path = root / "repo"
    Repository.init(LocalStorage(repo_path), PASSWORD, kdf=FAST_TEST_KDF).close()
    cfg = root / "sitesnap.toml"
    cfg.write_text('[site]\nname = "blog"\n'
                   '[[sources]]\nname = "db"\ntype = "sqlite"\npath = "site.db"\ncontinuous = true\n'
                   '[[repositories]]\nname = "local"\nurl = "repo"\n')
    return cfg, db, repo_path


def open_repo(repo_path: Path) -> Repository:
    repo = Repository.open(LocalStorage(repo_path), PASSWORD)
    repo.load_index()
    return repo


def sqlite_source(db: Path, name: str = "db") -> SqliteSource:
    """The config of a continuous SQLite source at ``db``, as ``run_capture`` takes it."""
    return SqliteSource(name=name, type="sqlite", path=db, continuous=True)
