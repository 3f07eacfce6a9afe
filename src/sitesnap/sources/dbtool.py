"""Running database client programs (pg_dump, psql, mariadb-dump, mariadb).

A dump program's stdout is exposed as a readable binary stream
(:class:`ProcessStream`) that passes every block to an observer (row
counting) and, at EOF, waits for the program and checks its exit status, so
a reader that reaches the end either has a complete dump or gets a
:class:`SourceError`.  Standard error is drained by a thread into a bounded
buffer (so the program never blocks on it) and condensed into one line for
messages.  Secrets are given to programs through the environment or a 0600
option file, never through ``argv``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import IO, Any, BinaryIO

from sitesnap.errors import MissingTool, RestoreError, SourceError
from sitesnap.sources.privileges import denied, privilege_error

__all__ = [
    "ProcessStream",
    "ToolProcess",
    "feed_dump",
    "find_tool",
    "private_file",
    "tool_help",
    "tool_version",
]

_STDERR_LIMIT = 64 * 1024


def find_tool(names: Sequence[str], search_path: Sequence[str] | None = None) -> str | None:
    """The first of ``names`` found on ``search_path`` (default: ``$PATH``)."""
    path = os.pathsep.join(search_path) if search_path is not None else None
    for name in names:
        found = shutil.which(name, path=path)
        if found:
            return found
    return None


def require_tool(names: Sequence[str], package: str, search_path: Sequence[str] | None = None) -> str:
    """Like :func:`find_tool` but raises :class:`MissingTool` naming the Debian package."""
    found = find_tool(names, search_path)
    if found is None:
        raise MissingTool(
            f"{names[0]} is not installed",
            hint=f"Install it: apt-get install {package}",
        )
    return found


_PROGRAM_OUTPUT: dict[tuple[str, str, int, int], str] = {}
_PROGRAM_OUTPUT_LOCK = threading.Lock()


def _program_output(path: str, flag: str) -> str:
    """What ``path flag`` prints, remembered per program file (path, mtime, size) for this process.

    A backup asks a client program for its version and options several times;
    on Debian ``/usr/bin/pg_dump`` is a Perl wrapper that takes a tenth of a
    second per run, so asking once is a visible share of a small backup.
    An upgraded program has a new mtime and is asked again.
    """
    try:
        st = os.stat(path)
        key = (os.path.realpath(path), flag, st.st_mtime_ns, st.st_size)
    except OSError:
        key = (path, flag, 0, 0)
    with _PROGRAM_OUTPUT_LOCK:
        if key in _PROGRAM_OUTPUT:
            return _PROGRAM_OUTPUT[key]
    try:
        out = subprocess.run([path, flag], capture_output=True, text=True, timeout=30, check=False)
    except OSError as exc:
        raise MissingTool(f"{path} cannot run: {exc.strerror or exc}") from exc
    text = out.stdout or out.stderr or ""
    with _PROGRAM_OUTPUT_LOCK:
        _PROGRAM_OUTPUT[key] = text
    return text


def tool_version(path: str) -> str:
    """The version line a program prints for ``--version`` (e.g. ``pg_dump (PostgreSQL) 15.2``)."""
    text = _program_output(path, "--version").strip()
    return text.splitlines()[0] if text else ""


def tool_help(path: str) -> str:
    """What a program prints for ``--help`` (empty if it cannot run); used to detect options."""
    try:
        return _program_output(path, "--help")
    except MissingTool:
        return ""


def version_numbers(text: str) -> tuple[int, ...]:
    """The first dotted version number in ``text``: ``"pg_dump (PostgreSQL) 15.20"`` -> (15, 20)."""
    match = re.search(r"(\d+)(?:\.(\d+))?(?:\.(\d+))?", text)
    if not match:
        return ()
    return tuple(int(g) for g in match.groups() if g is not None)


@contextlib.contextmanager
def private_file(content: str, *, suffix: str = "") -> Iterator[str]:
    """A temp file readable only by us (0600) holding ``content``; removed afterwards."""
    fd, name = tempfile.mkstemp(prefix="sitesnap-", suffix=suffix)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(content)
        yield name
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)


_PIPE_SIZE = 1 << 20


def _widen_pipe(fd: int) -> None:
    """Ask for a 1 MiB pipe (Linux; the default is 64 KiB).

    A dump arrives in fewer, larger reads: fewer wake-ups of the dump program
    and fewer trips through the reader's per-block Python code.  Best effort:
    other systems, or a lower ``/proc/sys/fs/pipe-max-size``, keep the default.
    """
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None)
    if set_size is not None:
        with contextlib.suppress(OSError):
            fcntl.fcntl(fd, set_size, _PIPE_SIZE)


class ToolProcess:
    """A running client program with stderr drained into a bounded buffer.

    ``stdin``/``stdout`` are ``subprocess.PIPE``, ``DEVNULL`` or a file.  Call
    :meth:`close` (also on errors) to kill a still-running program and reap it.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        stdin: int | IO[bytes] | None = subprocess.DEVNULL,
        stdout: int | IO[bytes] | None = subprocess.PIPE,
    ) -> None:
        self.name = os.path.basename(argv[0])
        full_env = {**os.environ, "LC_ALL": "C", **(env or {})}
        try:
            self.proc = subprocess.Popen(
                list(argv), stdin=stdin, stdout=stdout, stderr=subprocess.PIPE, env=full_env
            )
        except FileNotFoundError as exc:
            raise MissingTool(f"{argv[0]} is not installed") from exc
        if self.proc.stdout is not None:
            _widen_pipe(self.proc.stdout.fileno())
        self._stderr = bytearray()
        self._reader = threading.Thread(target=self._drain, name=f"{self.name}-stderr", daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._stderr += line
            if len(self._stderr) > _STDERR_LIMIT:
                del self._stderr[: len(self._stderr) - _STDERR_LIMIT]

    def wait(self) -> int:
        code = self.proc.wait()
        self._reader.join(timeout=10)
        return code

    def stderr_text(self) -> str:
        return self._stderr.decode("utf-8", "replace")

    def error_line(self) -> str:
        """The program's most telling stderr line, without its ``name: error:`` prefix."""
        return condense_error(self.stderr_text(), self.name) or f"{self.name} exited with status {self.proc.returncode}"

    def close(self) -> None:
        """Kill the program if it still runs, and reap it.  Idempotent."""
        if self.proc.poll() is None:
            self.proc.kill()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        self.wait()


def condense_error(stderr: str, name: str = "") -> str:
    """One line out of a client program's stderr: the first error line plus its first detail."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    if not lines:
        return ""
    errors = [ln for ln in lines if re.search(r"\b(error|fatal|failed)\b", ln, re.I)]
    line = errors[0] if errors else lines[-1]
    for prefix in (f"{name}: error: ", f"{name}: ", "psql:<stdin>:", "ERROR:  ", "FATAL:  "):
        if prefix and line.startswith(prefix):
            line = line[len(prefix) :].strip()
    details = []
    for other in lines:
        match = re.match(r"(?:\S+: )?(?:detail|DETAIL):\s*(.*)", other)
        if match and not match.group(1).startswith("Command was"):
            details.append(match.group(1).replace("Error message from server: ", "server: "))
    if details and details[0] not in line:
        line = f"{line} ({details[0]})"
    return re.sub(r"\s+", " ", line)


_READ_BLOCK = 256 << 10


class ProcessStream:
    """The stdout of a dump program as a readable binary stream.

    Each block read is passed to ``observer`` (row counting, trailer checks).
    At EOF ``on_eof`` runs once; it waits for the program and raises
    :class:`SourceError` if the dump is incomplete, so the error reaches the
    reader.  ``complete`` tells whether EOF was reached successfully.
    """

    def __init__(
        self,
        tool: ToolProcess,
        observer: Callable[[bytes], None],
        on_eof: Callable[[], None],
    ) -> None:
        assert tool.proc.stdout is not None
        self._tool = tool
        self._pipe = tool.proc.stdout
        self._observer = observer
        self._on_eof = on_eof
        self.bytes_read = 0
        self.complete = False
        self._eof = False

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if self._eof:
            return b""
        size = min(n, _READ_BLOCK) if n is not None and n > 0 else _READ_BLOCK
        # A full block, not whatever the pipe holds right now: a dump tool that writes a row
        # at a time would otherwise hand over a few KiB per call, and every call costs the
        # row scanner and the chunker Python work of its own.
        data = self._pipe.read(size)
        if data:
            self.bytes_read += len(data)
            self._observer(data)
            return data
        self._eof = True
        self._on_eof()
        self.complete = True
        return b""

    def readinto(self, buffer: bytearray | memoryview) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._tool.close()


def raise_tool_failure(tool: ToolProcess, what: str, error: type[SourceError] = SourceError) -> None:
    """Raise ``error`` with the program's condensed stderr."""
    raise error(f"{what}: {tool.error_line()}")


def feed_dump(tool: ToolProcess, stream: BinaryIO, scanner: Any, tracker: Any, target: str,
              block: int = 1 << 20, client_filter: Any = None) -> int:
    """Pipe a dump into a restoring client (``psql``, ``mariadb``); returns the bytes fed.

    ``scanner`` (a dump scanner with ``feed`` and ``complete``) watches the
    bytes go by, so a dump cut short is refused even when the client accepts
    it.  ``client_filter`` (``feed(bytes) -> bytes`` and ``finish() -> bytes``)
    rewrites what the client receives (sources/dumpguard.py); the scanner and
    the progress see the dump as stored.  Raises RestoreError naming
    ``target`` when the client fails or the dump is incomplete.  Closes the
    tool in every case.
    """
    read = 0
    try:
        assert tool.proc.stdin is not None
        while data := stream.read(block):
            read += len(data)
            scanner.feed(data)
            try:
                tool.proc.stdin.write(client_filter.feed(data) if client_filter is not None else data)
            except BrokenPipeError:
                break
            tracker.update(bytes_done=len(data))
        else:
            if client_filter is not None:
                with contextlib.suppress(BrokenPipeError):
                    tool.proc.stdin.write(client_filter.finish())
        with contextlib.suppress(BrokenPipeError):
            tool.proc.stdin.close()
        code = tool.wait()
    finally:
        tool.close()
    if code != 0:
        if denied(tool.stderr_text()):
            raise privilege_error("", "restore", f"loading the dump into {target}", tool.error_line())
        raise RestoreError(f"loading the dump into {target} failed: {tool.error_line()}")
    if not scanner.complete:
        raise RestoreError("the dump is incomplete: its end marker is missing")
    return read
