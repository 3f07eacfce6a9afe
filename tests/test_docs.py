"""Docs stay true to the code: the CLI reference is regenerated and compared."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _generator():
    spec = importlib.util.spec_from_file_location("gen_cli_docs", ROOT / "scripts" / "gen_cli_docs.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_reference_is_current() -> None:
    expected = _generator().render()
    actual = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert actual == expected, "docs/cli.md is stale: run .venv/bin/python scripts/gen_cli_docs.py"


def test_every_error_has_a_documented_exit_code() -> None:
    from sitesnap.errors import all_errors

    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    for err in all_errors():
        assert f"`{err.__name__}`" in text


def test_readme_names_the_two_commands() -> None:
    for name in ("README.md", "README.zh-CN.md"):
        text = (ROOT / name).read_text(encoding="utf-8")
        assert "make demo" in text and "make test" in text
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "make test" in ci


def test_cli_job_names_match_the_config() -> None:
    import click
    import pytest

    from sitesnap.cli.commands.scheduler import ScheduledJob
    from sitesnap.config import JOBS

    job = ScheduledJob()
    assert [job.convert(name, None, None) for name in JOBS] == list(JOBS)
    with pytest.raises(click.BadParameter, match=f"use one of: {', '.join(JOBS)}"):
        job.convert("hourly", None, None)


def test_cli_reference_shows_the_help_options_each_command_accepts() -> None:
    """Every command answers -h as documented, and docs/cli.md lists '-h, --help' for it."""
    from click.testing import CliRunner

    from sitesnap.cli.main import cli

    generator = _generator()
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    sections = {s.split("`", 1)[0]: s for s in text.split("\n### `")[1:]}
    runner = CliRunner()
    for path, _cmd in generator._walk(cli, ["sitesnap"]):
        done = runner.invoke(cli, [*path[1:], "-h"])
        assert done.exit_code == 0 and "Usage:" in done.output, (path, done.output)
        assert "-h, --help" in sections[" ".join(path)], f"docs/cli.md: {' '.join(path)} lacks -h, --help"


def test_help_exit_codes_prints_the_error_tree() -> None:
    import json

    from click.testing import CliRunner

    from sitesnap.cli.main import cli
    from sitesnap.errors import all_errors

    listed = CliRunner().invoke(cli, ["help", "exit-codes"])
    assert listed.exit_code == 0, listed.output
    as_json = CliRunner().invoke(cli, ["help", "exit-codes", "--json"])
    rows = json.loads(as_json.output)
    for err in all_errors():
        assert {"code": err.exit_code, "error": err.__name__} in [{"code": r["code"], "error": r["error"]}
                                                                   for r in rows]
        assert f"{err.exit_code:>4}  {err.__name__}" in listed.output
    assert rows[0] == {"code": 0, "error": "", "meaning": "success"}
    main_help = CliRunner().invoke(cli, ["-h"]).output
    assert "sitesnap help exit-codes" in main_help
