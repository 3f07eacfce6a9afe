"""A private spool of a server's binlog files, fed over the replication protocol.

``mariadb-binlog --read-from-remote-server --raw --stop-never`` connects as a
replica (with its own ``--stop-never-slave-server-id``), copies the binlog
from the start of a named file on, byte for byte, into the spool directory,
and keeps following rotations until killed.  It works against any host it
can reach over TCP; the login goes through a 0600 option file.

Positions: a binlog position is (file, offset); the log stream needs one
ordered integer, ``number << 32 | offset`` where ``number`` is the file's
numeric suffix (``mysql-bin.000042`` -> 42).  A closed file's end is the next
file's start, so the chain of segments is continuous across rotations.

The child dies with the thread that started it (Linux ``PR_SET_PDEATHSIG``),
so a killed capture leaves no replica connection behind; its spool directory,
named after the capture's process id, is removed by the next capture
(:func:`remove_stale_spools`).
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from sitesnap.capture.mysqlserver import Login
from sitesnap.errors import MissingTool, SourceError
from sitesnap.process import pid_alive

__all__ = ["BinlogSpool", "binlog_name", "binlog_number", "find_program", "position", "remove_stale_spools",
           "split_position"]

_SUFFIX = re.compile(r"^(.*)\.(\d+)$")
_PACKAGE_HINT = "Install the MariaDB client programs: apt-get install mariadb-client"
_PREFIX = "sitesnap-binlog-"
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def remove_stale_spools(directory: str | None = None) -> int:
    """Delete spool directories of captures whose process is gone; returns how many."""
    removed = 0
    for entry in Path(directory or tempfile.gettempdir()).glob(f"{_PREFIX}*-*"):
        pid_text = entry.name[len(_PREFIX):].split("-", 1)[0]
        if pid_text.isdigit() and not pid_alive(int(pid_text)):
            shutil.rmtree(entry, ignore_errors=True)
            removed += 1
    return removed


def find_program(*names: str) -> str:
    """The first of ``names`` on PATH; MissingTool naming the package otherwise."""
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    raise MissingTool(f"{names[0]} is not installed", hint=_PACKAGE_HINT)


def binlog_number(name: str) -> int:
    match = _SUFFIX.match(name)
    if match is None:
        raise SourceError(f"{name!r} is not a binlog file name (base.NNNNNN)")
    return int(match.group(2))


def binlog_name(template: str, number: int) -> str:
    """The file numbered ``number`` in the series ``template`` belongs to."""
    match = _SUFFIX.match(template)
    if match is None:
        raise SourceError(f"{template!r} is not a binlog file name (base.NNNNNN)")
    return f"{match.group(1)}.{number:0{len(match.group(2))}d}"


def position(name: str, offset: int) -> int:
    return binlog_number(name) << 32 | offset


def split_position(pos: int) -> tuple[int, int]:
    return pos >> 32, pos & 0xFFFFFFFF


class BinlogSpool:
    """The child process and its directory.  Not thread-safe; :meth:`close` kills it and removes the files."""

    def __init__(self, login: Login, replica_id: int, program: str | None = None) -> None:
        self.login = login
        self.replica_id = replica_id
        self.program = program or find_program("mariadb-binlog", "mysqlbinlog")
        remove_stale_spools()
        self.directory = Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-"))
        os.chmod(self.directory, 0o700)
        self._options = self.directory / "client.cnf"
        self.proc: subprocess.Popen[bytes] | None = None
        self._stderr = self.directory / "stderr.txt"

    def start(self, first_file: str) -> None:
        """Copy the binlog from the start of ``first_file`` on (kills a running copy first)."""
        self.stop()
        fd = os.open(self._options, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(self.login.client_options())
        argv = [self.program, f"--defaults-extra-file={self._options}", "--read-from-remote-server", "--raw",
                "--stop-never", f"--stop-never-slave-server-id={self.replica_id}",
                f"--result-file={self.directory}/", first_file]
        with open(self._stderr, "wb") as err:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                                         env={**os.environ, "LC_ALL": "C"}, preexec_fn=_die_with_parent)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def failure(self) -> str:
        """Why the copy stopped (its last stderr line), or an empty string while it runs."""
        if self.proc is None or self.running():
            return ""
        lines = self._stderr.read_text("utf-8", "replace").strip().splitlines() if self._stderr.exists() else []
        return lines[-1] if lines else f"exited with status {self.proc.returncode}"

    def path(self, name: str) -> Path:
        return self.directory / name

    def size(self, name: str) -> int:
        """Bytes of ``name`` spooled so far (0 before it arrives)."""
        try:
            return self.path(name).stat().st_size
        except FileNotFoundError:
            return 0

    def has(self, name: str) -> bool:
        return self.path(name).exists()

    def discard(self, name: str) -> None:
        """Remove a fully shipped file from the spool."""
        self.path(name).unlink(missing_ok=True)

    def stop(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            self.proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)
