"""``worker``: a Celery worker running the site's jobs."""

from __future__ import annotations

import click

from sitesnap.cli.context import AppContext, pass_app


@click.command()
@click.option("--concurrency", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Tasks at once in this worker (more than 1 runs them in threads).")
@click.option("--name", default=None, help="Worker name (default: sitesnap-PID@HOST).")
@click.option("--loglevel", default="INFO", show_default=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False))
@pass_app
def worker(app: AppContext, concurrency: int, name: str | None, loglevel: str) -> None:
    """Run a Celery worker for the site's [runtime] broker (Redis) until stopped."""
    from sitesnap.runtime.celery_app import run_worker

    cfg = app.site(required=True)
    run_worker(cfg, concurrency=concurrency, name=name, loglevel=loglevel.upper())


COMMANDS = [worker]
