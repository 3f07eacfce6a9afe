"""Fixtures for the config tests: write a ``sitesnap.toml`` and load it."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from sitesnap.config import SiteConfig, load_config
from sitesnap.errors import ConfigError

MINIMAL = """\
[site]
name = "blog"
"""


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[[str], Path]:
    """Write dedented TOML to ``tmp_path/sitesnap.toml`` and return its path."""

    def write(text: str) -> Path:
        path = tmp_path / "sitesnap.toml"
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write


@pytest.fixture
def load_text(write_config: Callable[[str], Path]) -> Callable[[str], SiteConfig]:
    def load(text: str) -> SiteConfig:
        return load_config(write_config(text))

    return load


@pytest.fixture
def config_error(write_config: Callable[[str], Path]) -> Callable[[str], str]:
    """Load TOML that must fail; return the ConfigError's message."""

    def fail(text: str) -> str:
        with pytest.raises(ConfigError) as info:
            load_config(write_config(text))
        return info.value.message

    return fail
