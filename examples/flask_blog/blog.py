"""A tiny Flask blog (SQLite + image uploads) that backs itself up with sitesnap.

Run it::

    export SITESNAP_PASSWORD='a long repository password' BLOG_ADMIN_PASSWORD='admin password'
    flask --app blog sitesnap init          # create the repository (once)
    flask --app blog run

then log in at http://127.0.0.1:5000/login and open /admin/backups/ (the
console, when built) or call /admin/backups/api/v1/... .  sitesnap found the
database and the upload folder by itself and wrote instance/sitesnap.toml.

``BLOG_DATABASE_URL=postgresql://...`` keeps the posts in PostgreSQL instead
(the compose stack in ``deploy/`` does), ``BLOG_UPLOAD_FOLDER`` moves the
images, and ``SITESNAP_CONFIG`` points the mounted sitesnap at an existing
``sitesnap.toml`` instead of writing one.
"""

from __future__ import annotations

import hmac
import os
import sqlite3
from pathlib import Path
from typing import Any

from flask import Flask, abort, g, redirect, request, send_from_directory, session, url_for
from werkzeug.utils import secure_filename

from sitesnap.ext import Sitesnap, important_operation

SCHEMA = """
CREATE TABLE IF NOT EXISTS posts (
    id {id},
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    image TEXT
);
"""
ID_TYPES = {"sqlite": "INTEGER PRIMARY KEY AUTOINCREMENT", "postgresql": "SERIAL PRIMARY KEY"}


def blog_role(host_session: Any) -> str | None:
    """The blog's logged-in admin is a sitesnap admin; nobody else gets a role from the blog."""
    return "admin" if host_session.get("blog_admin") else None


def create_app(test_config: dict[str, Any] | None = None, instance_path: str | None = None) -> Flask:
    app = Flask(__name__, instance_path=instance_path)
    app.config.from_mapping(
        SECRET_KEY=os.environ.get("BLOG_SECRET_KEY", "change-me"),
        SQLALCHEMY_DATABASE_URI=os.environ.get("BLOG_DATABASE_URL", "sqlite:///blog.db"),  # relative: instance
        UPLOAD_FOLDER=os.environ.get("BLOG_UPLOAD_FOLDER", os.path.join(app.instance_path, "uploads")),
        BLOG_ADMIN_PASSWORD=os.environ.get("BLOG_ADMIN_PASSWORD", ""),
        SESSION_COOKIE_SAMESITE="Lax",
    )
    if os.environ.get("SITESNAP_CONFIG"):
        app.config["SITESNAP_CONFIG"] = os.environ["SITESNAP_CONFIG"]
    app.config.update(test_config or {})
    Path(app.config["UPLOAD_FOLDER"]).mkdir(parents=True, exist_ok=True)
    db = _connect(app)
    try:
        db.execute(SCHEMA.format(id=ID_TYPES[_kind(app)]))
        db.commit()
    finally:
        db.close()

    @app.teardown_appcontext
    def _close(_exc: BaseException | None) -> None:
        db = g.pop("db", None)
        if db is not None:
            db.close()

    @app.get("/")
    def index() -> dict[str, Any]:
        rows = _db(app).execute("SELECT id, title, body, image FROM posts ORDER BY id DESC").fetchall()
        return {"posts": [dict(r) for r in rows]}

    @app.post("/login")
    def login() -> Any:
        expected = app.config["BLOG_ADMIN_PASSWORD"]
        given = request.form.get("password", "")
        if not expected or not hmac.compare_digest(expected, given):
            abort(403)
        session.clear()
        session["blog_admin"] = True
        return redirect(url_for("index"))

    @app.post("/logout")
    def logout() -> Any:
        session.clear()
        return redirect(url_for("index"))

    @app.post("/posts")
    def new_post() -> Any:
        if not session.get("blog_admin"):
            abort(403)
        image = request.files.get("image")
        name = None
        if image is not None and image.filename:
            name = secure_filename(image.filename)
            image.save(os.path.join(app.config["UPLOAD_FOLDER"], name))
        db = _db(app)
        db.execute(_placeholders(app, "INSERT INTO posts (title, body, image) VALUES (?, ?, ?)"),
                   (request.form["title"], request.form.get("body", ""), name))
        db.commit()
        # A new post is worth a realtime snapshot; a burst of posts makes one.
        important_operation.send(app, reason=f"post published: {request.form['title']}")
        return redirect(url_for("index"))

    @app.get("/uploads/<path:name>")
    def upload(name: str) -> Any:
        return send_from_directory(app.config["UPLOAD_FOLDER"], name)

    Sitesnap(app, role_loader=blog_role)
    return app


def database_path(app: Flask) -> str:
    return os.path.join(app.instance_path, "blog.db")


def _kind(app: Flask) -> str:
    """``postgresql`` or ``sqlite``: where the posts live."""
    return "postgresql" if str(app.config["SQLALCHEMY_DATABASE_URI"]).startswith("postgresql") else "sqlite"


def _placeholders(app: Flask, query: str) -> str:
    """SQLite's ``?`` parameters as psycopg's ``%s`` when the posts live in PostgreSQL."""
    return query.replace("?", "%s") if _kind(app) == "postgresql" else query


def _connect(app: Flask) -> Any:
    """A DB-API connection whose rows convert to dicts, to SQLite or PostgreSQL."""
    if _kind(app) == "postgresql":
        import psycopg
        from psycopg.rows import dict_row

        return psycopg.connect(str(app.config["SQLALCHEMY_DATABASE_URI"]), row_factory=dict_row)
    os.makedirs(app.instance_path, exist_ok=True)
    db = sqlite3.connect(database_path(app))
    db.row_factory = sqlite3.Row
    return db


def _db(app: Flask) -> Any:
    if "db" not in g:
        g.db = _connect(app)
    return g.db
