"""``pg_receivewal`` as a child process streaming WAL into a private spool directory.

The child runs with ``--slot`` and ``--synchronous``: it fsyncs what it
receives and only then reports it flushed, so the slot's ``restart_lsn`` is
a position below which every byte is on the spool's disk.  Completed WAL
files keep their name; the file being written is ``<name>.partial``
(preallocated to full size, so its length says nothing: the slot says how
much of it is real).

The spool survives the capture: after a crash, or a SIGKILL, the next
capture finds the bytes it had not stored yet (the child dies with its
parent: ``PR_SET_PDEATHSIG``), and ``pg_receivewal`` itself resumes from the
newest file in the spool, else from the slot.  The capture deletes a file
only when every byte of it is stored in the repository.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sitesnap.capture.pgserver import ServerAddress
from sitesnap.capture.pgwal import WalFile
from sitesnap.errors import SourceError

__all__ = ["Receiver", "SpoolFile"]

_PARTIAL = ".partial"
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class SpoolFile:
    """A WAL file in the spool; ``partial`` while ``pg_receivewal`` still writes it."""

    wal: WalFile
    path: Path
    partial: bool


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Receiver:
    """One ``pg_receivewal`` child and its spool.  Not thread-safe."""

    def __init__(self, program: Path, address: ServerAddress, slot: str, spool: Path, segment_size: int) -> None:
        self.program, self.address, self.slot = program, address, slot
        self.spool, self.segment_size = spool, segment_size
        self.spool.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.log_path = spool.parent / f"{spool.name}.log"
        self.child: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start streaming (idempotent while the child runs)."""
        if self.child is not None and self.child.poll() is None:
            return
        argv = [str(self.program), "-D", str(self.spool), "--slot", self.slot, "--synchronous", "--no-password",
                "--status-interval", "1"]
        env = {**os.environ, **self.address.env()}
        with open(self.log_path, "ab") as log:
            self.child = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                          preexec_fn=_die_with_parent)

    def check(self) -> None:
        """SourceError when the child has exited, with its last message."""
        if self.child is not None and self.child.poll() is not None:
            raise SourceError(f"pg_receivewal exited with code {self.child.returncode}: {self.last_error()}")

    def last_error(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "no log"
        return lines[-1] if lines else "no message"

    def close(self) -> None:
        """Stop the child (SIGTERM, then SIGKILL after 10 s)."""
        if self.child is None:
            return
        if self.child.poll() is None:
            self.child.terminate()
            try:
                self.child.wait(10)
            except subprocess.TimeoutExpired:
                self.child.kill()
                self.child.wait()
        self.child = None

    def files(self) -> list[SpoolFile]:
        """The WAL files in the spool, in log order (a completed file before a partial one of the same name)."""
        out: list[SpoolFile] = []
        for path in self.spool.iterdir():
            name = path.name
            partial = name.endswith(_PARTIAL)
            wal = WalFile.parse(name[: -len(_PARTIAL)] if partial else name, self.segment_size)
            if wal is not None:
                out.append(SpoolFile(wal, path, partial))
        out.sort(key=lambda f: (f.wal.start, f.wal.timeline, f.partial))
        return out

    def covering(self, timeline: int, start: int, end: int) -> Iterator[SpoolFile]:
        """The spool files of ``timeline`` that hold bytes of [start, end)."""
        for f in self.files():
            if f.wal.timeline == timeline and f.wal.start < end and f.wal.end > start:
                yield f

    def resume_point(self) -> int | None:
        """Where ``pg_receivewal`` starts streaming, judged from the spool (None: an empty spool, the slot decides).

        It continues its newest file: a partial one from that file's start,
        after a completed one from the next file.
        """
        files = self.files()
        if not files:
            return None
        newest = max(files, key=lambda f: (f.wal.start, f.partial))
        return newest.wal.start if newest.partial else newest.wal.end

    def completed_end(self, timeline: int, lsn: int) -> int:
        """The end of the completed (fsynced, renamed) file holding ``lsn``; 0 when it is still partial."""
        for f in self.covering(timeline, lsn, lsn + 1):
            if not f.partial:
                return f.wal.end
        return 0

    def read(self, timeline: int, start: int, end: int) -> bytes:
        """The log bytes [start, end) of ``timeline`` from the spool; SourceError if any are missing."""
        parts: list[bytes] = []
        pos = start
        for f in self.covering(timeline, start, end):
            if f.wal.start > pos or f.wal.end <= pos:
                continue
            take = min(end, f.wal.end) - pos
            with open(f.path, "rb") as fh:
                fh.seek(pos - f.wal.start)
                data = fh.read(take)
            if len(data) != take:
                raise SourceError(f"{f.path} is shorter than the log it should hold")
            parts.append(data)
            pos += take
            if pos >= end:
                break
        if pos < end:
            raise SourceError(f"the spool {self.spool} lacks the WAL from {pos:#x}")
        return b"".join(parts)

    def remove_stored(self, timeline: int, below: int) -> None:
        """Delete completed files of ``timeline`` that lie wholly below ``below`` (already stored)."""
        for f in self.files():
            if not f.partial and f.wal.timeline == timeline and f.wal.end <= below:
                f.path.unlink(missing_ok=True)
