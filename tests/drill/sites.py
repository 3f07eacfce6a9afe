"""A small blog site on disk (files, SQLite, optionally PostgreSQL and MariaDB) with its repository."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import psycopg
import pymysql
from tests.sources.conftest import MY_ADMIN, my_url, pg_url

from sitesnap.config import SiteConfig, load_config
from sitesnap.format.crypto import FAST_TEST_KDF
from sitesnap.repository.repository import Repository
from sitesnap.storage.local import LocalStorage

PASSWORD = "drill test password"
CONSOLE = "https://backup.example.test/admin/backups"


def write_site(root: Path, *, pg: str | None = None, my: str | None = None, hook: str | None = None,
               smtp_port: int | None = None, quota: str | None = None,
               disabled: tuple[str, ...] = ("storage_quota",), extra: str = "") -> SiteConfig:
    """Create the site's data, its repository and ``sitesnap.toml``; return the loaded config."""
    (root / "instance").mkdir(parents=True, exist_ok=True)
    (root / "uploads" / "2026").mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(root / "instance" / "blog.db")
    db.execute("CREATE TABLE IF NOT EXISTS post (id INTEGER PRIMARY KEY, title TEXT)")
    db.executemany("INSERT INTO post (title) VALUES (?)", [(f"post {i}",) for i in range(250)])
    db.commit()
    db.close()
    (root / "uploads" / "2026" / "a.jpg").write_bytes(os.urandom(300_000))
    (root / "uploads" / "notes.txt").write_text("hello\n")
    (root / "uploads" / "empty").write_bytes(b"")
    os.symlink("notes.txt", root / "uploads" / "latest")
    text = f'[site]\nname = "blog"\nrpo = "1d"\nconsole_url = "{CONSOLE}"\n'
    text += '\n[[sources]]\nname = "db"\ntype = "sqlite"\npath = "instance/blog.db"\n'
    text += '\n[[sources]]\nname = "uploads"\ntype = "files"\npath = "uploads"\n'
    if pg:
        text += f'\n[[sources]]\nname = "main"\ntype = "postgres"\nurl = "{pg_url(pg)}"\n'
    if my:
        text += f'\n[[sources]]\nname = "shop"\ntype = "mysql"\nurl = "{my_url(my)}"\n'
    secret = root / "repo.pass"
    secret.write_text(PASSWORD + "\n")
    text += f'\n[[repositories]]\nname = "local"\nurl = "backups"\npassword = {{ file = "{secret}" }}\n'
    if quota:
        text += f'quota = "{quota}"\n'
    text += "\n[alerts]\ndisabled = [" + ", ".join(f'"{r}"' for r in disabled) + "]\n"
    if hook:
        text += f'\n[[alerts.channels]]\nname = "hook"\ntype = "webhook"\nurl = "{hook}"\n'
    if smtp_port:
        text += (f'\n[[alerts.channels]]\nname = "mail"\ntype = "email"\nhost = "127.0.0.1"\nport = {smtp_port}\n'
                 'security = "none"\nfrom = "sitesnap@example.test"\nto = ["ops@example.test"]\n')
    text += extra
    (root / "sitesnap.toml").write_text(text)
    Repository.init(LocalStorage(root / "backups"), PASSWORD, kdf=FAST_TEST_KDF).close()
    return load_config(root / "sitesnap.toml")


def fill_pg(db: str, rows: int) -> None:
    with psycopg.connect(pg_url(db), autocommit=True) as conn:
        conn.execute("CREATE TABLE item (id serial PRIMARY KEY, name text)")
        conn.execute("INSERT INTO item (name) SELECT 'item ' || g FROM generate_series(1, %s) g", (rows,))
        conn.execute("CREATE TABLE tag (id int PRIMARY KEY)")


def fill_my(db: str, rows: int) -> None:
    conn = pymysql.connect(**MY_ADMIN, database=db, autocommit=True)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE orders (id INT AUTO_INCREMENT PRIMARY KEY, total INT) ENGINE=InnoDB")
        cur.executemany("INSERT INTO orders (total) VALUES (%s)", [(i,) for i in range(rows)])
    conn.close()


def packs(root: Path) -> list[Path]:
    """The repository's pack files, largest first."""
    return sorted((p for p in (root / "backups" / "data").rglob("*") if p.is_file()),
                  key=lambda p: p.stat().st_size, reverse=True)


def flip_byte(path: Path, offset: int = 0) -> None:
    """Damage one byte of a file in place (the pack keeps its name, as silent bit rot would)."""
    os.chmod(path, 0o600)
    with open(path, "r+b") as fh:
        fh.seek(offset)
        byte = fh.read(1)
        fh.seek(offset)
        fh.write(bytes([byte[0] ^ 0xFF]))
