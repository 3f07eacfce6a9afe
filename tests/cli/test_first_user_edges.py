"""Rough edges a first user met, each through the real ``sitesnap`` script: one clear line, no traceback."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from .site import make_site, sitesnap

UNWRITABLE = "/proc/sitesnap-cannot-write-here/restored"


def _sqlite(root: Path) -> str:
    with sqlite3.connect(root / "blog.db") as conn:
        conn.execute("CREATE TABLE posts (id INTEGER PRIMARY KEY, title TEXT)")
        conn.executemany("INSERT INTO posts (title) VALUES (?)", [(f"post {i}",) for i in range(10)])
    conn.close()
    return '[[sources]]\nname = "blog"\ntype = "sqlite"\npath = "blog.db"\n'


def _clean_failure(res: object, code: int | None = None) -> None:
    assert res.returncode != 0  # type: ignore[attr-defined]
    if code is not None:
        assert res.returncode == code, res.stderr  # type: ignore[attr-defined]
    stderr = res.stderr  # type: ignore[attr-defined]
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr


def test_restoring_where_nothing_can_be_written_is_one_line(tmp_path: Path) -> None:
    make_site(tmp_path)
    repo = str(tmp_path / "repo")
    assert sitesnap("-r", repo, "backup", "uploads", cwd=tmp_path).returncode == 0
    res = sitesnap("-r", repo, "restore", "latest", "--target", UNWRITABLE, cwd=tmp_path)
    _clean_failure(res, 19)
    assert "cannot create target" in res.stderr and "hint:" in res.stderr
    assert sitesnap("-c", "sitesnap.toml", "backup", "--in-process", cwd=tmp_path).returncode == 0
    site = sitesnap("-c", "sitesnap.toml", "restore", "latest", "--to", f"uploads={UNWRITABLE}", "--yes",
                    cwd=tmp_path)
    _clean_failure(site, 19)
    assert "cannot create target" in site.stderr


def test_restore_from_a_repository_asks_for_target_not_a_site(tmp_path: Path) -> None:
    make_site(tmp_path)
    repo = str(tmp_path / "repo")
    assert sitesnap("-r", repo, "backup", "uploads", cwd=tmp_path).returncode == 0
    res = sitesnap("-r", repo, "restore", "latest", cwd=tmp_path)
    _clean_failure(res, 2)
    assert "--target" in res.stderr and "site configuration" not in res.stderr.splitlines()[0]


def test_a_key_typo_gets_did_you_mean(tmp_path: Path) -> None:
    (tmp_path / "sitesnap.toml").write_text('[site]\nname = "blog"\n[[sources]]\nname = "db"\ntpye = "sqlite"\n'
                                            'path = "blog.db"\n[[repositories]]\nname = "main"\nurl = "repo"\n')
    res = sitesnap("-c", "sitesnap.toml", "snapshots", cwd=tmp_path)
    _clean_failure(res, 2)
    assert "did you mean 'type'" in res.stderr and "'tpye'" in res.stderr


def test_a_missing_uploads_folder_still_backs_up_the_database(tmp_path: Path) -> None:
    make_site(tmp_path, extra_sources=_sqlite(tmp_path))
    (tmp_path / "uploads" / "photo.jpg").unlink()
    (tmp_path / "uploads").rmdir()
    res = sitesnap("-c", "sitesnap.toml", "--json", "backup", "--in-process", cwd=tmp_path)
    assert res.returncode == 3, res.stderr
    assert "uploads" in res.stdout and "cannot back up" in res.stdout
    listed = sitesnap("-c", "sitesnap.toml", "ls", "latest", cwd=tmp_path)
    assert listed.returncode == 0 and "blog" in listed.stdout
    runs = sitesnap("-c", "sitesnap.toml", "--json", "runs", "--kind", "backup", cwd=tmp_path)
    assert '"incomplete"' in runs.stdout, runs.stdout


def test_wording_first_backup_plural_and_undo_hint(tmp_path: Path) -> None:
    make_site(tmp_path)
    first = sitesnap("-c", "sitesnap.toml", "backup", "--in-process", cwd=tmp_path)
    assert first.returncode == 0 and "(incremental, the first: everything read)" in first.stdout
    second = sitesnap("-c", "sitesnap.toml", "backup", "--in-process", cwd=tmp_path)
    assert "(incremental) of site blog" in second.stdout
    checked = sitesnap("-r", str(tmp_path / "repo"), "check", cwd=tmp_path)
    assert "checked 2 snapshots, " in checked.stdout
    plan = sitesnap("-c", "sitesnap.toml", "restore", "latest", "--dry-run", cwd=tmp_path)
    assert "0 (1 unchanged)" in plan.stdout, plan.stdout  # identical files are not "overwritten"
    (tmp_path / "uploads" / "photo.jpg").write_bytes(b"changed")
    changed = sitesnap("-c", "sitesnap.toml", "restore", "latest", "--dry-run", cwd=tmp_path)
    assert "unchanged" not in changed.stdout and " 1 " in changed.stdout
    restored = sitesnap("-c", "sitesnap.toml", "restore", "latest", "--yes", cwd=tmp_path)
    assert restored.returncode == 0, restored.stderr
    assert "undo: sitesnap -c sitesnap.toml restore " in restored.stdout


def test_check_of_one_snapshot_says_snapshot(tmp_path: Path) -> None:
    make_site(tmp_path)
    repo = str(tmp_path / "repo")
    assert sitesnap("-r", repo, "backup", "uploads", cwd=tmp_path).returncode == 0
    assert "checked 1 snapshot, " in sitesnap("-r", repo, "check", cwd=tmp_path).stdout


def test_forget_with_ages_off_gives_no_zero_age_reason(tmp_path: Path) -> None:
    make_site(tmp_path)
    repo = str(tmp_path / "repo")
    for _ in range(2):
        assert sitesnap("-r", repo, "backup", "--type", "incremental", "uploads", cwd=tmp_path).returncode == 0
    res = sitesnap("-r", repo, "forget", "--max-age", "all=off", "--keep-last", "1", "--dry-run", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "younger than 0s" not in res.stdout and "keep" in res.stdout


def test_a_file_target_for_a_postgres_source_says_what_fits(tmp_path: Path) -> None:
    import secrets

    import psycopg
    from psycopg import sql

    name = f"sitesnap_edge_{secrets.token_hex(4)}"
    admin = "postgresql://postgres@127.0.0.1:5432/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        url = f"postgresql://postgres@127.0.0.1:5432/{name}"
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE posts (id serial PRIMARY KEY, title text)")
            conn.execute("INSERT INTO posts (title) SELECT 'post ' || g FROM generate_series(1, 5) g")
        make_site(tmp_path, extra_sources=f'[[sources]]\nname = "shop"\ntype = "postgres"\nurl = "{url}"\n')
        assert sitesnap("-c", "sitesnap.toml", "backup", "--in-process", cwd=tmp_path).returncode == 0
        res = sitesnap("-c", "sitesnap.toml", "restore", "latest", "--source", "shop", "--to", "shop=/x.db",
                       "--dry-run", cwd=tmp_path)
        _clean_failure(res, 2)
        assert "postgres database" in res.stderr and "(none)" not in res.stderr.splitlines()[0]
        assert "hint: Give a target like the source's own: postgresql://" in res.stderr
        # At 80 columns the plan and the snapshot list wrap long targets instead of cutting them.
        plan = sitesnap("-c", "sitesnap.toml", "restore", "latest", "--dry-run", cwd=tmp_path, COLUMNS="80")
        assert plan.returncode == 0, plan.stderr
        assert "…" not in plan.stdout and "postgresql://" in plan.stdout and name[-12:] in plan.stdout
        table = plan.stdout.split("Targets:")[0]
        assert max(len(line) for line in table.splitlines()) <= 80
        assert f"shop: postgresql://postgres@127.0.0.1:5432/{name}" in plan.stdout
        listed = sitesnap("-c", "sitesnap.toml", "snapshots", cwd=tmp_path, COLUMNS="80")
        assert "…" not in listed.stdout and "shop" in listed.stdout
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _repository_files(repo: Path) -> dict[str, int]:
    return {str(p.relative_to(repo)): p.stat().st_size for p in repo.rglob("*") if p.is_file()}


def test_backup_dry_run_says_what_it_would_do_and_writes_nothing(tmp_path: Path) -> None:
    make_site(tmp_path, upload_bytes=300_000)
    repo = tmp_path / "repo"
    before = _repository_files(repo)
    first = sitesnap("-r", str(repo), "backup", "--dry-run", "uploads", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "Would back up: 1 new, 0 changed, 0 unmodified files" in first.stdout
    assert "Would read 292.97 KiB of 292.97 KiB and add 29" in first.stdout  # the file, plus two small trees
    assert _repository_files(repo) == before
    assert sitesnap("-r", str(repo), "backup", "uploads", cwd=tmp_path).returncode == 0
    again = sitesnap("-r", str(repo), "backup", "-n", "uploads", cwd=tmp_path)
    assert "Would back up: 0 new, 0 changed, 1 unmodified files" in again.stdout
    assert "add 0 B before compression" in again.stdout
    site = sitesnap("-c", "sitesnap.toml", "backup", "--dry-run", cwd=tmp_path)
    _clean_failure(site, 2)
    assert "--dry-run works with PATHS" in site.stderr
