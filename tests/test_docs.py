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
    from sitesnap.cli.commands.scheduler import JOBS as CLI_JOBS
    from sitesnap.config import JOBS

    assert CLI_JOBS == JOBS
