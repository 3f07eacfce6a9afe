"""Transaction end times of a WAL range, read with ``pg_waldump``.

``recovery_target_time`` stops at the first commit or abort record whose
time is after the target, so what a log segment can prove about time is the
range of those records' times.  ``pg_waldump -r Transaction`` prints them;
it reads a directory of WAL files by name, so the spool's files (a
``.partial`` one included) are linked under their plain names into a
scratch directory.  ``-e END`` keeps it from reading past the bytes the
receiver flushed; a record that straddles END is printed by the next scan,
which starts at the last record seen (and skips what it printed before).
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sitesnap.capture.pgwal import format_lsn, parse_lsn
from sitesnap.errors import SourceError

__all__ = ["XactEnd", "scan_xacts"]

_LINE = re.compile(r"lsn: ([0-9A-F]+/[0-9A-F]+),.*desc: (COMMIT|ABORT)\S*\s+(?:\d+:\s+)?"
                   r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?) UTC")


@dataclass(frozen=True)
class XactEnd:
    """One commit or abort record: where it starts, whether it commits, its time."""

    lsn: int
    commit: bool
    time_ns: int


def _time_ns(text: str) -> int:
    fmt = "%Y-%m-%d %H:%M:%S.%f" if "." in text else "%Y-%m-%d %H:%M:%S"
    stamp = datetime.strptime(text + " +0000", fmt + " %z")
    return int(stamp.timestamp()) * 1_000_000_000 + stamp.microsecond * 1000


def scan_xacts(program: Path, files: list[tuple[str, Path]], timeline: int, start: int, end: int) -> list[XactEnd]:
    """The transaction ends whose records start at or after ``start`` and end by ``end``.

    ``files`` are (WAL file name, path) pairs covering the range.
    """
    if end <= start:
        return []
    with tempfile.TemporaryDirectory(prefix="sitesnap-waldump-") as scratch:
        for name, path in files:
            os.symlink(path.resolve(), Path(scratch) / name)
        argv = [str(program), "-p", scratch, "-t", str(timeline), "-s", format_lsn(start), "-e", format_lsn(end),
                "-r", "Transaction"]
        proc = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, "TZ": "UTC"}, check=False)
    out: list[XactEnd] = []
    for line in proc.stdout.splitlines():
        match = _LINE.search(line)
        if match is not None:
            out.append(XactEnd(parse_lsn(match.group(1)), match.group(2) == "COMMIT", _time_ns(match.group(3))))
    if proc.returncode != 0 and not _ends_normally(proc.stderr):
        raise SourceError(f"pg_waldump failed: {proc.stderr.strip().splitlines()[-1:]}")
    return out


def _ends_normally(stderr: str) -> bool:
    """pg_waldump reports reaching -e, or a record cut at the end of the flushed bytes, as an error."""
    text = stderr.strip()
    return (not text or "invalid record length" in text or "could not find a valid record" in text
            or "error in WAL record" in text or "contrecord" in text)
