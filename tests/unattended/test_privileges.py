"""A missing database privilege is reported as one, naming it, never as damaged data.

Limited users are created on the real PostgreSQL and MariaDB servers for each
test and dropped afterwards.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest
from tests.drill.sites import fill_my, fill_pg
from tests.sources.conftest import MY_ADMIN, PG_ADMIN, my_db, pg_db  # noqa: F401 - fixtures

from sitesnap.catalog import open_catalog
from sitesnap.config import SiteConfig, load_config
from sitesnap.errors import PrivilegeError
from sitesnap.format.crypto import FAST_TEST_KDF
from sitesnap.repository.repository import Repository
from sitesnap.runtime.facts import collect_facts
from sitesnap.runtime.jobs import run_job
from sitesnap.sources.privileges import denied
from sitesnap.storage.local import LocalStorage

PASSWORD = "privileges test password"


def _site(root: Path, source: str) -> SiteConfig:
    root.mkdir(parents=True, exist_ok=True)
    (root / "repo.pass").write_text(PASSWORD + "\n")
    (root / "sitesnap.toml").write_text(
        '[site]\nname = "blog"\n\n' + source +
        f'\n[[repositories]]\nname = "local"\nurl = "backups"\npassword = {{ file = "{root / "repo.pass"}" }}\n')
    Repository.init(LocalStorage(root / "backups"), PASSWORD, kdf=FAST_TEST_KDF).close()
    return load_config(root / "sitesnap.toml")


@pytest.fixture
def pg_reader(pg_db: Any) -> Iterator[tuple[str, str]]:  # noqa: F811
    """(database, role): a role that may read the database but not create databases."""
    db, role = pg_db(), f"sitesnap_ro_{secrets.token_hex(4)}"
    fill_pg(db, 300)
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN NOCREATEDB")
    with psycopg.connect(PG_ADMIN.rsplit("/", 1)[0] + f"/{db}", autocommit=True) as conn:
        conn.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
        conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
        conn.execute(f"GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}")
    yield db, role
    with psycopg.connect(PG_ADMIN.rsplit("/", 1)[0] + f"/{db}", autocommit=True) as conn:
        conn.execute(f"DROP OWNED BY {role}")
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"DROP ROLE IF EXISTS {role}")


@pytest.fixture
def my_reader(my_db: Any) -> Iterator[tuple[str, str]]:  # noqa: F811
    """(database, user): a MariaDB user with SELECT on the database and nothing else."""
    db, user = my_db(), f"sitesnap_ro_{secrets.token_hex(4)}"
    fill_my(db, 50)
    conn = pymysql.connect(**MY_ADMIN, autocommit=True)
    with conn.cursor() as cur:
        cur.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY 'readonly'")
        cur.execute(f"GRANT SELECT ON `{db}`.* TO '{user}'@'%'")
    yield db, user
    with conn.cursor() as cur:
        cur.execute(f"DROP USER IF EXISTS '{user}'@'%'")
    conn.close()


def test_a_drill_by_a_user_without_createdb_is_a_privilege_failure(tmp_path: Path,
                                                                  pg_reader: tuple[str, str]) -> None:
    db, role = pg_reader
    cfg = _site(tmp_path / "site", f'[[sources]]\nname = "main"\ntype = "postgres"\n'
                                   f'url = "postgresql://{role}@127.0.0.1:5432/{db}"\n')
    catalog = open_catalog(cfg.runtime.catalog_url)
    try:
        backup = run_job("backup", cfg, {"type": "full"}, catalog=catalog)
        assert backup.ok, backup.error  # reading needs no more than SELECT
        drill = run_job("drill", cfg, {}, catalog=catalog)
        assert drill.status == "failed" and isinstance(drill.error, PrivilegeError), drill.error
        assert drill.error.exit_code == 31 and drill.error.code == "privilege"
        assert "CREATEDB" in drill.error.message and "Integrity" not in drill.error.message
        assert "privileges.md" in drill.error.hint
        facts = collect_facts(catalog, cfg, datetime.now(UTC))
        assert [r for r in facts.integrity if not r.ok] == []  # no integrity alert for a permission problem
    finally:
        catalog.close()


def test_a_select_only_mariadb_user_cannot_back_up_and_is_told_why(tmp_path: Path,
                                                                   my_reader: tuple[str, str]) -> None:
    db, user = my_reader
    cfg = _site(tmp_path / "site", f'[[sources]]\nname = "shop"\ntype = "mysql"\n'
                                   f'url = "mysql://{user}:readonly@127.0.0.1:3306/{db}"\n')
    catalog = open_catalog(cfg.runtime.catalog_url)
    try:
        backup = run_job("backup", cfg, {"type": "full"}, catalog=catalog)
    finally:
        catalog.close()
    assert backup.status == "failed" and isinstance(backup.error, PrivilegeError), backup.error
    message = backup.error.message
    assert "Access denied" in message and "EVENT" in message and "SHOW VIEW" in message, message


def test_a_wrong_password_is_not_a_missing_privilege() -> None:
    assert not denied("ERROR 1045 (28000): Access denied for user 'x'@'localhost' (using password: YES)")
    assert denied("mariadb-dump: Couldn't execute 'show events': Access denied for user 'x'@'%' "
                  "to database 'shop' (1044)")
    assert denied('ERROR:  permission denied to create database')


def test_docs_list_exactly_the_privileges_the_messages_quote() -> None:
    from sitesnap.sources.privileges import NEEDS

    doc = (Path(__file__).resolve().parents[2] / "docs" / "privileges.md").read_text()
    rows = {tuple(cell.strip().strip("`") for cell in line.split("|")[1:4])
            for line in doc.splitlines() if line.startswith("| `")}
    assert rows == {(kind, action, needs) for (kind, action), needs in NEEDS.items()}
