"""Fixtures of the runtime tests; the sites themselves are built by ``runtime_sites``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from runtime_sites import Site, write_site


@pytest.fixture
def make_site(tmp_path: Path) -> Callable[..., Site]:
    """``make_site(name, **options)``: a site directory with sources, repository and config."""

    def make(name: str = "blog", **kwargs: object) -> Site:
        root = tmp_path / name
        root.mkdir()
        return write_site(root, name, **kwargs)  # type: ignore[arg-type]

    return make
