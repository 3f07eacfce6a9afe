"""Sites for the runtime tests: a real tree and SQLite database, a local repository, a catalog file.

``make_site(name, **runtime)`` writes a ``sitesnap.toml`` in its own
directory, creates the repository (fast key derivation) and returns the
loaded :class:`SiteConfig`; the repository password is in a file the config
points to, as in production.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from sitesnap.config import SiteConfig, load_config
from sitesnap.format.crypto import FAST_TEST_KDF
from sitesnap.repository.repository import Repository
from sitesnap.storage.local import LocalStorage

PASSWORD = "correct horse battery staple"
REDIS_DB = 11
REDIS_URL = f"redis://127.0.0.1:6379/{REDIS_DB}"


@dataclass
class Site:
    cfg: SiteConfig
    root: Path
    uploads: Path
    database: Path
    repo_path: Path
    config_path: Path

    def reload(self) -> SiteConfig:
        self.cfg = load_config(self.config_path)
        return self.cfg

    def open_repo(self) -> Repository:
        return Repository.open(LocalStorage(self.repo_path), PASSWORD)


def write_site(root: Path, name: str, *, broker: str = "", catalog_url: str = "", limit_upload: str = "",
               schedule: str = "", payload: int = 0) -> Site:
    uploads = root / "uploads"
    (uploads / "img").mkdir(parents=True)
    (uploads / "index.html").write_text(f"<h1>{name}</h1>\n")
    (uploads / "img" / "logo.bin").write_bytes(os.urandom(4096))
    if payload:
        (uploads / "big.bin").write_bytes(os.urandom(payload))
    database = root / "blog.db"
    with sqlite3.connect(database) as conn:
        conn.execute("CREATE TABLE posts (id INTEGER PRIMARY KEY, title TEXT)")
        conn.executemany("INSERT INTO posts (title) VALUES (?)", [(f"post {i}",) for i in range(25)])
    conn.close()
    (root / "password").write_text(PASSWORD + "\n")
    repo_path = root / "repo"
    Repository.init(LocalStorage(repo_path), PASSWORD, kdf=FAST_TEST_KDF).close()
    runtime = [f'state_dir = "{root / "state"}"']
    if broker:
        runtime.append(f'broker = "{broker}"')
    if catalog_url:
        runtime.append(f'catalog_url = "{catalog_url}"')
    limit = f'limit_upload = "{limit_upload}"\n' if limit_upload else ""
    text = f"""\
[site]
name = "{name}"
timezone = "UTC"

[[sources]]
name = "uploads"
type = "files"
path = "{uploads}"

[[sources]]
name = "db"
type = "sqlite"
path = "{database}"

[[repositories]]
name = "local"
url = "{repo_path}"
password = {{ file = "{root / 'password'}" }}
{limit}
[runtime]
{chr(10).join(runtime)}

{schedule}
"""
    config_path = root / "sitesnap.toml"
    config_path.write_text(text)
    return Site(load_config(config_path), root, uploads, database, repo_path, config_path)

