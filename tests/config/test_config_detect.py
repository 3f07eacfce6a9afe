"""Detecting real (tiny) Flask apps written to temp directories, and rendering their config."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from sitesnap.config import FilesSource, PostgresSource, SqliteSource, loads_config
from sitesnap.config.detect import detect_flask_app, normalize_database_uri, render_config
from sitesnap.errors import ConfigError
from sitesnap.secrets import SecretRef


def write_app(folder: Path, body: str, name: str = "app.py") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


SQLITE_APP = """\
    from flask import Flask

    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///blog.db"
    app.config["UPLOAD_FOLDER"] = "static/uploads"
"""

POSTGRES_FACTORY = """\
    from flask import Flask

    def create_app(env="production"):
        app = Flask(__name__, instance_relative_config=True)
        app.config["SQLALCHEMY_DATABASE_URI"] = (
            "postgresql+psycopg2://blog:s3cr%40t@127.0.0.1:5432/blog_" + env
        )
        app.config["SQLALCHEMY_BINDS"] = {"analytics": "mysql+pymysql://root@127.0.0.1:3306/stats"}
        app.config["UPLOAD_FOLDER"] = "/srv/blog/uploads"
        return app
"""


def test_sqlite_app_file(tmp_path: Path) -> None:
    site = tmp_path / "myblog"
    write_app(site, SQLITE_APP)
    detected = detect_flask_app(str(site / "app.py"))
    assert detected.name == "myblog"
    assert detected.root_path == site
    assert detected.instance_path == site / "instance"
    (db,) = detected.databases
    assert (db.name, db.type, db.setting) == ("db", "sqlite", "SQLALCHEMY_DATABASE_URI")
    assert db.path == site / "instance" / "blog.db"  # Flask-SQLAlchemy 3 convention
    assert detected.upload_folder == site / "static" / "uploads"
    assert "app" not in sys.modules or not str(getattr(sys.modules["app"], "__file__", "")).startswith(
        str(tmp_path)
    )


def test_sqlite_file_next_to_the_app_is_preferred_when_it_exists(tmp_path: Path) -> None:
    site = tmp_path / "old"
    write_app(site, SQLITE_APP)
    (site / "blog.db").write_bytes(b"")
    (db,) = detect_flask_app(str(site)).databases  # a directory holding app.py
    assert db.path == site / "blog.db"


def test_postgres_factory_with_arguments(tmp_path: Path) -> None:
    site = tmp_path / "pgblog"
    write_app(site, POSTGRES_FACTORY, name="wsgi.py")
    detected = detect_flask_app(f"{site / 'wsgi.py'}:create_app('staging')")
    main, analytics = detected.databases
    assert main.type == "postgres"
    assert main.url == "postgresql://blog@127.0.0.1:5432/blog_staging"
    assert main.password == SecretRef(value="s3cr@t")
    assert (analytics.name, analytics.type) == ("analytics", "mysql")
    assert analytics.url == "mysql://root@127.0.0.1:3306/stats"
    assert analytics.password is None
    assert detected.upload_folder == Path("/srv/blog/uploads")
    # without an attribute, the create_app() factory is found and called with no arguments
    assert detect_flask_app(str(site)).databases[0].url.endswith("/blog_production")


def test_package_module_by_dotted_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_app(tmp_path / "pkgblog", POSTGRES_FACTORY, name="__init__.py")
    write_app(tmp_path / "pkgblog", "from pkgblog import create_app\napplication = create_app()\n", "wsgi.py")
    monkeypatch.chdir(tmp_path)
    detected = detect_flask_app("pkgblog.wsgi:application")
    assert detected.databases[0].url == "postgresql://blog@127.0.0.1:5432/blog_production"
    assert detected.root_path == tmp_path / "pkgblog"
    assert "pkgblog" not in sys.modules
    detected = detect_flask_app(str(tmp_path / "pkgblog" / "wsgi.py"))  # same, by file
    assert detected.databases[0].type == "postgres"


def test_two_apps_with_the_same_module_name(tmp_path: Path) -> None:
    write_app(tmp_path / "one", SQLITE_APP)
    write_app(tmp_path / "two", SQLITE_APP.replace("blog.db", "two.db"))
    first = detect_flask_app(str(tmp_path / "one" / "app.py"))
    second = detect_flask_app(str(tmp_path / "two" / "app.py"))
    assert first.databases[0].path is not None and first.databases[0].path.name == "blog.db"
    assert second.databases[0].path is not None and second.databases[0].path.name == "two.db"


def test_unusable_settings_become_notes(tmp_path: Path) -> None:
    write_app(
        tmp_path / "memo",
        """\
        from flask import Flask
        app = Flask(__name__)
        app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite://"
        app.config["SQLALCHEMY_BINDS"] = {"legacy": "mssql+pyodbc://sa@h/db"}
        """,
    )
    detected = detect_flask_app(str(tmp_path / "memo" / "app.py"))
    assert detected.databases == ()
    assert detected.upload_folder is None
    assert any("in-memory SQLite" in note for note in detected.notes)
    assert any("'mssql' is not supported" in note for note in detected.notes)
    assert any("UPLOAD_FOLDER is not set" in note for note in detected.notes)


@pytest.mark.parametrize(
    ("files", "spec", "reason"),
    [
        ({}, "nowhere/app.py", "no such file"),
        ({"app.py": "import not_installed_anywhere\n"}, "app.py", "ModuleNotFoundError"),
        ({"app.py": "x = 1\n"}, "app.py", "no Flask app or create_app"),
        ({"app.py": "x = 1\n"}, "app.py:x", "not a Flask app"),
        ({"app.py": "x = 1\n"}, "app.py:missing", "has no attribute 'missing'"),
        ({"app.py": "def create_app():\n    raise RuntimeError('boom')\n"}, "app.py", "boom"),
        (
            {"app.py": "from flask import Flask\na = Flask('a')\nb = Flask('b')\n"},
            "app.py",
            "several apps",
        ),
        ({"app.py": "x = 1\n"}, "app.py:make(os.environ)", "must be literals"),
        ({}, ".", "no wsgi.py or app.py"),
    ],
)
def test_detection_errors(tmp_path: Path, files: dict[str, str], spec: str, reason: str) -> None:
    for name, body in files.items():
        (tmp_path / name).write_text(body)
    spec = str(tmp_path / spec) if spec != "." else str(tmp_path)
    with pytest.raises(ConfigError, match=reason):
        detect_flask_app(spec)


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("sqlite:////var/lib/blog.db", ("sqlite", "/var/lib/blog.db", None)),
        ("sqlite+pysqlite:///rel/blog.db?timeout=5", ("sqlite", "rel/blog.db", None)),
        ("postgres://u@h/db", ("postgres", "postgresql://u@h/db", None)),
        ("postgresql+asyncpg://u:p%2Fw@h:6543/db", ("postgres", "postgresql://u@h:6543/db", SecretRef(value="p/w"))),
        ("mariadb+mariadbconnector://u@h/db", ("mysql", "mysql://u@h/db", None)),
        ("mysql+pymysql://u@h/db?charset=utf8mb4", ("mysql", "mysql://u@h/db?charset=utf8mb4", None)),
    ],
)
def test_normalize_database_uri(uri: str, expected: tuple[str, str, SecretRef | None]) -> None:
    assert normalize_database_uri(uri) == expected


def test_render_then_load_round_trip(tmp_path: Path) -> None:
    site = tmp_path / "pgblog"
    write_app(site, POSTGRES_FACTORY)
    detected = detect_flask_app(str(site / "app.py"))
    text = render_config(detected, "s3://backups/pgblog", config_dir=site)
    assert "s3cr" not in text  # the URI's password is not copied
    assert 'password = { env = "SITESNAP_DB_PASSWORD" }' in text
    cfg = loads_config(text, path=site / "sitesnap.toml")
    assert cfg.warnings == []
    assert cfg.site.name == "pgblog"
    main, analytics, uploads = cfg.sources
    assert isinstance(main, PostgresSource)
    assert main.url == "postgresql://blog@127.0.0.1:5432/blog_production"
    assert main.password == SecretRef(env="SITESNAP_DB_PASSWORD")
    assert analytics.type == "mysql"
    assert isinstance(uploads, FilesSource) and uploads.path == Path("/srv/blog/uploads")
    assert cfg.primary.url == "s3://backups/pgblog"
    assert cfg.primary.password == SecretRef(env="SITESNAP_PASSWORD")


def test_render_sqlite_site_relative_to_the_config(tmp_path: Path) -> None:
    site = tmp_path / "myblog"
    write_app(site, SQLITE_APP)
    detected = detect_flask_app(str(site / "app.py"))
    text = render_config(detected, "/var/backups/myblog", config_dir=site)
    assert 'path = "instance/blog.db"' in text
    assert 'path = "static/uploads"' in text
    cfg = loads_config(text, path=site / "sitesnap.toml")
    db, uploads = cfg.sources
    assert isinstance(db, SqliteSource) and db.path == site / "instance" / "blog.db"
    assert uploads.path == site / "static" / "uploads"
    assert cfg.schedule.jobs()["full"].expression == "0 2 * * 0"  # defaults stay defaults


def test_init_site_prints_exactly_the_file_it_writes(tmp_path: Path) -> None:
    """TOML's [site] and [[sources]] look like console markup; the printed config must still be the file."""
    import os
    import subprocess

    site = tmp_path / "myblog"
    write_app(site, SQLITE_APP)
    out = tmp_path / "sitesnap.toml"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SITESNAP_")}
    done = subprocess.run([str(Path(sys.executable).with_name("sitesnap")), "init-site", "--flask-app",
                           str(site / "app.py"), "-o", str(out)], capture_output=True, text=True, env=env,
                          timeout=60, check=True)
    written = out.read_text(encoding="utf-8")
    assert "[site]" in written and "[[sources]]" in written
    assert done.stdout == f"wrote {out}\n{written}"
