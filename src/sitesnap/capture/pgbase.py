"""A physical base backup with ``pg_basebackup -X none -Ft -D -``, as one tar stream.

The server sends ``backup_label`` as the first member of the main tar, so
the start LSN and timeline are read from the stream's head before any of
it is stored: the caller learns where its WAL must begin, then streams the
whole tar (head included) through the repository's chunker.  A second base
of a barely changed cluster is mostly chunks the repository already has.
``-X none`` because the WAL is what the capture stores anyway.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from sitesnap.capture.pgserver import ServerAddress
from sitesnap.capture.pgwal import parse_lsn
from sitesnap.errors import SourceError

__all__ = ["BaseLabel", "base_backup", "parse_label"]

_BLOCK = 512
_START = re.compile(r"^START WAL LOCATION: ([0-9A-F]+/[0-9A-F]+)", re.MULTILINE)
_TIMELINE = re.compile(r"^START TIMELINE: (\d+)", re.MULTILINE)


@dataclass
class BaseLabel:
    """Where the base's WAL begins; ``stop_lsn`` (where it is consistent) is known once the tar is read."""

    start_lsn: int
    timeline: int
    stop_lsn: int = 0


def parse_label(text: str) -> BaseLabel:
    start, timeline = _START.search(text), _TIMELINE.search(text)
    if start is None or timeline is None:
        raise SourceError("pg_basebackup sent a backup_label without a start location")
    return BaseLabel(parse_lsn(start.group(1)), int(timeline.group(1)))


class _Prefixed(io.RawIOBase):
    """``head`` then the rest of ``tail``: the tar with its first member put back.

    At the end of ``tail`` it calls ``at_end`` (which waits for the program
    and reads the stop LSN), so whoever reads the tar to its end learns it.
    """

    def __init__(self, head: bytes, tail: BinaryIO, at_end: Callable[[], None]) -> None:
        self.head, self.tail, self.at_end = head, tail, at_end

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self.head:
            n = min(len(buffer), len(self.head))
            buffer[:n] = self.head[:n]
            self.head = self.head[n:]
            return n
        data = self.tail.read(len(buffer))
        buffer[: len(data)] = data
        if not data:
            self.at_end()
        return len(data)


def _read_exact(stream: BinaryIO, n: int) -> bytes:
    data = stream.read(n)
    if len(data) != n:
        raise SourceError("pg_basebackup ended before it sent backup_label")
    return data


def _label_member(stream: BinaryIO) -> tuple[bytes, BaseLabel]:
    header = _read_exact(stream, _BLOCK)
    name = header[:100].rstrip(b"\0").decode("utf-8", "replace")
    if name != "backup_label":
        raise SourceError(f"pg_basebackup's tar starts with {name!r}, not backup_label")
    size = int(header[124:136].rstrip(b"\0 ") or b"0", 8)
    padded = (size + _BLOCK - 1) // _BLOCK * _BLOCK
    body = _read_exact(stream, padded)
    return header + body, parse_label(body[:size].decode("utf-8", "replace"))


@contextlib.contextmanager
def base_backup(program: Path, address: ServerAddress,
                consistent: Callable[[], int]) -> Iterator[tuple[BaseLabel, BinaryIO]]:
    """Run ``pg_basebackup``; yields its label and the tar stream, which must be read to the end.

    When the stream ends the program has exited and ``label.stop_lsn`` is
    set to ``consistent()``, called then: the server's current WAL position,
    at or after the backup's end record (``-X none`` prints no end point),
    so recovery through it is past the base's consistent point.  SourceError
    when the program fails or the stream is not a base tar.
    """
    argv = [str(program), "-D", "-", "-Ft", "-X", "none", "--checkpoint=fast", "--no-password",
            "--no-manifest", "-v"]
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(argv, env={**os.environ, **address.env()}, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=errors)
        assert proc.stdout is not None

        def finish() -> None:
            code = proc.wait()
            errors.seek(0)
            text = errors.read().decode("utf-8", "replace")
            lines = text.strip().splitlines()
            if code != 0:
                raise SourceError(f"pg_basebackup of {address.display()} failed: {lines[-1] if lines else code}")
            label.stop_lsn = consistent()

        try:
            head, label = _label_member(proc.stdout)  # type: ignore[arg-type]
            yield label, io.BufferedReader(_Prefixed(head, proc.stdout, finish), 1 << 20)  # type: ignore[arg-type]
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if not label.stop_lsn:
            raise SourceError(f"pg_basebackup of {address.display()}: the tar was not read to its end")
