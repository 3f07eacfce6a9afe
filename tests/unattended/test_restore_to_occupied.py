"""Restoring into another database that already holds data asks first and snapshots it.

``restore --to main=<url>`` into a PostgreSQL database with tables of its
own is live data: the plan says so, the CLI refuses without ``--yes`` (no
terminal to ask), and with ``--yes`` a ``pre-restore`` snapshot of that
database is taken before it is replaced, tagged with where it came from.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
from tests.cloud.conftest import run_cli
from tests.drill.sites import fill_pg
from tests.sources.conftest import pg_db, pg_url  # noqa: F401 - fixture


def _rows(db: str, table: str) -> int:
    with psycopg.connect(pg_url(db)) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
        assert row is not None
        return int(row[0])


def test_an_occupied_other_database_is_confirmed_and_snapshotted(tmp_path: Path, pg_db: Any) -> None:  # noqa: F811
    live, other = pg_db(), pg_db()
    fill_pg(live, 120)
    with psycopg.connect(pg_url(other), autocommit=True) as conn:
        conn.execute("CREATE TABLE guestbook (id int PRIMARY KEY)")
        conn.execute("INSERT INTO guestbook SELECT generate_series(1, 7)")
    cfg = tmp_path / "sitesnap.toml"
    cfg.write_text(f'[site]\nname = "blog"\n\n[[sources]]\nname = "main"\ntype = "postgres"\nurl = "{pg_url(live)}"\n'
                   f'\n[[repositories]]\nname = "local"\nurl = "{tmp_path / "repo"}"\n'
                   f'\n[runtime]\nstate_dir = "{tmp_path / "state"}"\n')
    assert run_cli("-c", str(cfg), "init", "--kdf", "scrypt").code == 0
    assert run_cli("-c", str(cfg), "backup").code == 0

    plan = run_cli("-c", str(cfg), "--json", "restore", "latest", "--to", f"main={pg_url(other)}", "--dry-run")
    assert plan.code == 0, plan.stderr
    planned = json.loads(plan.stdout)
    assert planned["overwrites_live_data"] is True and planned["items"][0]["overwrites_live_data"] is True

    refused = run_cli("-c", str(cfg), "restore", "latest", "--to", f"main={pg_url(other)}")
    assert refused.code == 2 and "overwrites live data" in refused.stderr, refused.stderr
    assert _rows(other, "guestbook") == 7  # nothing changed

    done = run_cli("-c", str(cfg), "restore", "latest", "--to", f"main={pg_url(other)}", "--yes")
    assert done.code == 0, done.stderr
    assert _rows(other, "item") == 120 and _rows(live, "item") == 120

    snaps = json.loads(run_cli("-c", str(cfg), "snapshots", "--json").stdout)
    (pre,) = [s for s in snaps if "pre-restore" in s.get("tags", [])]
    assert f"target:main={pg_url(other)}" in pre["tags"]
    shown = run_cli("-c", str(cfg), "--json", "restore", pre["id"], "--to", f"main={pg_url(other)}", "--dry-run")
    assert shown.code == 0, shown.stderr
    assert json.loads(shown.stdout)["items"][0]["after"] == {"public.guestbook": 7}
