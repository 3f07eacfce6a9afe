"""Alembic environment for the sitesnap catalog.

Used two ways: programmatically by :func:`sitesnap.catalog.migrate.upgrade`,
which passes an open connection in ``config.attributes["connection"]``; and
from the command line (``alembic -c src/sitesnap/catalog/alembic.ini ...``)
with the URL in ``SITESNAP_CATALOG_URL`` or ``sqlalchemy.url``.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy.engine import Connection

from sitesnap.catalog.database import create_catalog_engine
from sitesnap.catalog.migrate import compare_type
from sitesnap.catalog.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=compare_type,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = os.environ.get("SITESNAP_CATALOG_URL") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("set SITESNAP_CATALOG_URL to the catalog database URL")
    engine = create_catalog_engine(url)
    try:
        with engine.connect() as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; connect to the database")
run_migrations_online()
