"""The example blog keeps its posts in PostgreSQL when BLOG_DATABASE_URL says so (the compose stack's setup)."""

from __future__ import annotations

import importlib.util
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

BLOG = Path(__file__).resolve().parents[2] / "examples" / "flask_blog" / "blog.py"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture
def blog_db() -> Iterator[str]:
    name = f"sitesnap_blog_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def test_posts_go_to_postgresql_and_sitesnap_finds_the_database(tmp_path: Path, blog_db: str,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BLOG_DATABASE_URL", blog_db)
    monkeypatch.setenv("BLOG_UPLOAD_FOLDER", str(tmp_path / "media"))
    monkeypatch.setenv("SITESNAP_PASSWORD", "blog repository password")
    spec = importlib.util.spec_from_file_location("flask_blog_pg", BLOG)
    assert spec is not None and spec.loader is not None
    blog = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = blog
    spec.loader.exec_module(blog)
    app = blog.create_app({"BLOG_ADMIN_PASSWORD": "admin-pw", "SECRET_KEY": "test-secret-key-0123456789"},
                          instance_path=str(tmp_path / "instance"))
    text = (tmp_path / "instance" / "sitesnap.toml").read_text()
    assert 'type = "postgres"' in text and blog_db.rsplit("/", 1)[1] in text
    client = app.test_client()
    client.post("/login", data={"password": "admin-pw"})
    for i in range(3):
        assert client.post("/posts", data={"title": f"post {i}", "body": "text"}).status_code == 302
    assert [p["title"] for p in client.get("/").get_json()["posts"]] == ["post 2", "post 1", "post 0"]
    with psycopg.connect(blog_db) as conn:
        assert conn.execute("SELECT count(*) FROM posts").fetchone() == (3,)
