"""Replay binlog files into one database: ``mariadb-binlog ... | mariadb --sandbox``.

The files are local copies rebuilt from the log stream.  ``mariadb-binlog``
starts at the base's position in the first file and stops before the event at
``stop`` in the last one (a transaction boundary chosen from the segments'
commit times), keeps only events of ``database`` (``--database``: row events
by their table's database, statements by their default database) and, when
restoring elsewhere, renames it (``--rewrite-db``; the filter names the
original).

Between the two, the ``SET @@session.gtid_seq_no`` / ``server_id`` /
``gtid_domain_id`` lines are taken out: replayed with them, the target
server would log the restore's transactions under the source's old GTIDs,
out of order in its own binlog (which strict GTID mode refuses and every
binlog reader trips over).  The restore's writes get fresh GTIDs instead.

The ``mariadb`` client runs with ``--sandbox`` so that nothing a forged
binlog carries can run a shell command or touch files on this host, with
the restore user's login from a 0600 option file.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO

from sitesnap.errors import MissingTool, RestoreError

__all__ = ["Replay", "replay_binlog"]

_STDERR_LIMIT = 4000
_SESSION_GTID = re.compile(rb"^SET @@session\.(?:gtid_seq_no|server_id|gtid_domain_id)=\d+/\*!\*/;\r?\n?$")


@dataclass(frozen=True)
class Replay:
    """What to replay: files in order, start offset in the first, stop offset in the last."""

    files: Sequence[str]
    start: int
    stop: int
    database: str
    into: str


def _binlog_argv(program: str, replay: Replay) -> list[str]:
    argv = [program, "--skip-gtid-strict-mode", f"--start-position={max(replay.start, 4)}",
            f"--stop-position={replay.stop}", f"--database={replay.database}"]
    if replay.into != replay.database:
        argv.append(f"--rewrite-db={replay.database}->{replay.into}")
    return [*argv, *replay.files]


def _copy_without_gtids(source: IO[bytes], sink: IO[bytes]) -> None:
    """Copy the replay script, leaving out the lines that would reuse the source's GTIDs."""
    try:
        for line in source:
            if not (line.startswith(b"SET @@session.") and _SESSION_GTID.match(line)):
                sink.write(line)
    except BrokenPipeError:
        pass  # the client stopped early; its exit status says why
    finally:
        with contextlib.suppress(BrokenPipeError):
            sink.close()


def replay_binlog(binlog_program: str, client_program: str, client_help: str, options: str, replay: Replay) -> None:
    """Pipe the selected events into the client; RestoreError (with the client's message) if it fails."""
    if "--sandbox" not in client_help:
        raise MissingTool(f"{client_program} has no --sandbox mode, so a replayed binlog could run commands here",
                          hint="Install MariaDB's client 10.5.25, 10.6.18, 10.11.8 or later.")
    env = {**os.environ, "TZ": "UTC", "LC_ALL": "C"}
    client_argv = [client_program, f"--defaults-extra-file={options}", "--batch", "--sandbox",
                   "--binary-mode", f"--database={replay.into}"]
    try:
        reader = subprocess.Popen(_binlog_argv(binlog_program, replay), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env=env)
        client = subprocess.Popen(client_argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, env=env)
    except FileNotFoundError as exc:
        raise MissingTool(f"{exc.filename} is not installed", hint="apt-get install mariadb-client") from exc
    assert reader.stdout is not None and reader.stderr is not None
    assert client.stdin is not None and client.stderr is not None
    pump = threading.Thread(target=_copy_without_gtids, args=(reader.stdout, client.stdin), daemon=True)
    pump.start()
    client_err = client.stderr.read()  # until the client exits: it may stop early, on an error
    client.wait()
    if client.returncode != 0 and reader.poll() is None:
        reader.kill()
    pump.join()
    reader_err = reader.stderr.read()
    for pipe in (reader.stdout, reader.stderr, client.stderr):
        pipe.close()
    reader.wait()
    if client.returncode != 0:
        raise RestoreError(f"replaying the binlog into {replay.into!r} failed: {_last_line(client_err)}")
    if reader.returncode != 0:
        raise RestoreError(f"reading the binlog failed: {_last_line(reader_err)}")


def _last_line(data: bytes) -> str:
    lines = data.decode("utf-8", "replace")[-_STDERR_LIMIT:].strip().splitlines()
    return lines[-1] if lines else "no message"
