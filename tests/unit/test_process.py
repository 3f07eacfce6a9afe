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


@pytest.mark.parametrize(
    "var", ["MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_"]
)
def test_explicit_environment_wins(var: str) -> None:
    assert run({var: "4"}) == "False"


FAULTS = """
import resource, sys
from sitesnap.process import tune_allocator
print(tune_allocator(), file=sys.stderr)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(200):  # what a backup does: chunk-sized buffers, allocated and freed over and over
    a = bytearray(3 << 20)
    b = bytes(a)
    del a, b
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_freed_buffers_are_reused_not_faulted_in_again() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    tuned = int(subprocess.run([sys.executable, "-c", FAULTS], env=env, capture_output=True, text=True,
                               check=True).stdout)
    # 200 rounds of 6 MiB each would be ~300,000 page faults if every buffer went back to the system.
    assert tuned < 20_000, tuned
