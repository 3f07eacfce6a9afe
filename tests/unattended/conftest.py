"""Fixtures for unattended-operation tests: an S3 server of the test's own that may be frozen.

The session's shared moto server must keep answering for every other test,
so a test that freezes its endpoint (SIGSTOP) starts a private one here and
always thaws and stops it afterwards.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from tests.storage.servers import S3Server, start_moto, stop


@dataclass
class FreezableS3:
    """A moto server whose process can be stopped (``freeze``) and continued (``thaw``)."""

    proc: subprocess.Popen[bytes]
    server: S3Server

    @contextmanager
    def frozen(self) -> Iterator[None]:
        os.kill(self.proc.pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(self.proc.pid, signal.SIGCONT)


@pytest.fixture
def freezable_s3() -> Iterator[FreezableS3]:
    proc, server = start_moto()
    try:
        yield FreezableS3(proc, server)
    finally:
        os.kill(proc.pid, signal.SIGCONT)
        stop(proc)
