"""The allocator tuning applies in sitesnap's own processes and yields to an explicit environment."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

CODE = "from sitesnap.process import tune_allocator; print(tune_allocator())"


def run(env_extra: dict[str, str]) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env.update(env_extra)
    return subprocess.run([sys.executable, "-c", CODE], env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_tunes_glibc_by_default() -> None:
    assert run({}) == "True"


@pytest.mark.parametrize("var", ["MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_"])
def test_explicit_environment_wins(var: str) -> None:
    assert run({var: "4"}) == "False"
