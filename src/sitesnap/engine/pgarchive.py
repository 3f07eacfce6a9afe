"""``archive_command`` and ``restore_command`` for PostgreSQL: WAL files in and out of the log stream.

:func:`push_wal` stores one completed WAL file as the next log segment of
the source's newest PostgreSQL generation, the same segments the streaming
capture writes (``engine/pgcapture.py``); a generation still begins with a
base, which ``sitesnap capture`` takes (use one of the two per source).

- A file the generation already holds is accepted again (archivers retry).
- A file wholly before the newest base is accepted and not stored: no
  restore needs it.
- A file after a gap (the one before it never arrived) is refused, so the
  server keeps it and retries: nothing is papered over.
- History, backup and partial files are accepted and not stored (recovery
  here replays one timeline).

:func:`fetch_wal` rebuilds a WAL file from whichever generation holds it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from sitesnap.capture.pgwal import WalFile, server_bin
from sitesnap.capture.pgwaldump import scan_xacts
from sitesnap.engine.pgcapture import ENGINE
from sitesnap.engine.pgrestore import wal_file_bytes
from sitesnap.errors import RestoreError, SourceError
from sitesnap.format.logseg import LOG, LogSegment
from sitesnap.repository import logstream
from sitesnap.repository.logtimeline import Generation, build_timelines
from sitesnap.repository.repository import Repository

__all__ = ["fetch_wal", "push_wal"]


def _generations(repo: Repository, source: str) -> list[Generation]:
    timeline = build_timelines(logstream.load_segments(repo, source)).get(source)
    return [g for g in (timeline.generations if timeline else []) if g.base.params.get("engine") == ENGINE]


def _commit_times(repo: Repository, gen: Generation, wal: WalFile, path: Path, scan_from: int,
                  last_xact: int) -> tuple[list[tuple[int, bool, int]], int]:
    """(lsn, commit, time) of the transaction ends in ``wal`` not seen before; the next scan start."""
    waldump = server_bin(int(gen.base.params["major"]), "pg_waldump")
    if waldump is None:
        raise SourceError(f"pg_waldump for PostgreSQL {gen.base.params['major']} is not installed",
                          hint=f"Install it: apt-get install postgresql-{gen.base.params['major']}")
    files = [(wal.name, path)]
    with tempfile.TemporaryDirectory(prefix="sitesnap-walpush-") as scratch:
        if scan_from < wal.start:  # a record begun in the file before: rebuild that one from the repository
            before = WalFile(wal.timeline, wal.start - wal.size, wal.size)
            (Path(scratch) / before.name).write_bytes(wal_file_bytes(repo, gen.chain, before))
            files.append((before.name, Path(scratch) / before.name))
        xacts = scan_xacts(waldump, files, wal.timeline, max(scan_from, wal.start - wal.size), wal.end)
    fresh = [(x.lsn, x.commit, x.time_ns) for x in xacts if x.lsn > last_xact]
    return fresh, (fresh[-1][0] if fresh else scan_from)


def push_wal(repo: Repository, source: str, path: Path) -> str:
    """Store the WAL file at ``path``; returns what happened ("stored", "already stored", "skipped: why")."""
    gens = _generations(repo, source)
    if not gens:
        raise SourceError(f"source {source!r} has no base backup in this repository",
                          hint="Run 'sitesnap capture' once: it takes the base the archived WAL continues.")
    gen = max(gens, key=lambda g: g.oldest_ns)
    wal = WalFile.parse(path.name, int(gen.base.params["segment_size"]))
    if wal is None:
        return f"skipped: {path.name} is not a WAL segment file"
    last = gen.chain[-1] if gen.chain else gen.base
    if wal.end <= last.end_pos or wal.end <= gen.base.end_pos:
        return "already stored" if wal.start >= gen.base.end_pos else "skipped: older than the newest base"
    if wal.start != last.end_pos:
        raise SourceError(f"{path.name} does not continue the stored WAL of {source!r} (it ends at "
                          f"{last.end_pos:#x}); the file before it was never archived",
                          hint="The server retries; if the file is gone, run 'sitesnap capture' for a new base.")
    data = path.read_bytes()
    if len(data) != wal.size:
        raise SourceError(f"{path} has {len(data)} bytes, a WAL file of this server has {wal.size}")
    xacts, scan_from = _commit_times(repo, gen, wal, path, int(last.params.get("scan_from", wal.start)),
                                     int(last.params.get("last_xact_lsn", 0)))
    end_time = max([last.end_time_ns, *(t for _lsn, _c, t in xacts)])
    commits = sum(1 for _lsn, c, _t in xacts if c)
    params = {"engine": ENGINE, "timeline": wal.timeline, "scan_from": scan_from,
              "last_xact_lsn": xacts[-1][0] if xacts else int(last.params.get("last_xact_lsn", 0)),
              "commits": commits, "aborts": len(xacts) - commits,
              "first_xact_ns": min((t for _l, _c, t in xacts), default=0),
              "last_xact_ns": max((t for _l, _c, t in xacts), default=0), "archived": True}
    seg = LogSegment(source, gen.generation, last.sequence + 1, LOG, wal.start, wal.end, last.end_time_ns,
                     end_time, 0, params=params)
    logstream.save_segment(repo, seg, data)
    return "stored"


def fetch_wal(repo: Repository, source: str, name: str, dest: Path) -> None:
    """Write the WAL file ``name`` to ``dest`` (temp file, then rename); RestoreError when no generation has it."""
    for gen in sorted(_generations(repo, source), key=lambda g: g.oldest_ns, reverse=True):
        wal = WalFile.parse(name, int(gen.base.params["segment_size"]))
        if wal is None:
            break
        held = [s for s in gen.chain if int(s.params.get("timeline", 0)) == wal.timeline
                and s.start_pos < wal.end and s.end_pos > wal.start]
        if held and held[0].start_pos <= wal.start:
            tmp = dest.with_name(f".{dest.name}.sitesnap-tmp")
            tmp.write_bytes(wal_file_bytes(repo, held, wal))
            os.replace(tmp, dest)
            return
    raise RestoreError(f"WAL file {name} of {source!r} is not in this repository")
