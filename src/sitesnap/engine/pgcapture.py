"""Continuous capture of a PostgreSQL source: a base backup, then its WAL, as log segments.

A generation (``repository/logtimeline.py``) is a physical base backup
(segment 0, ``pg_basebackup`` tar) and the WAL from the start of the WAL
file holding the base's start LSN, in segments whose positions are LSNs:
segment *n* holds the log bytes [start_pos, end_pos) of one timeline, never
crossing a WAL file boundary, so a WAL file is rebuilt by concatenating
the segments that cover it.  A segment's times: ``end_time_ns`` is the
newest commit or abort time seen so far (what ``recovery_target_time``
can stop at), never less than the segment before; ``params`` records the
timeline, the transaction-time range and counts it holds.

The capture streams through a replication slot with ``pg_receivewal``
(``capture/pgreceive.py``) into a spool that survives restarts; each tick
stores what the slot says is flushed.  After a restart it continues the
newest generation when the spool or the slot still holds the WAL from its
last stored position; otherwise it takes a new base (a new generation: the
gap between the two is reported, never papered over).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, cast

from sitesnap.capture.pgbase import BaseLabel, base_backup
from sitesnap.capture.pgreceive import Receiver
from sitesnap.capture.pgserver import PgServer, ServerAddress, slot_name
from sitesnap.capture.pgwal import server_bin, server_package, wal_file_at
from sitesnap.capture.pgwaldump import scan_xacts
from sitesnap.engine.continuous import CaptureStats
from sitesnap.errors import MissingTool, SourceError
from sitesnap.format.logseg import BASE, LOG, LogSegment
from sitesnap.repository import logstream
from sitesnap.repository.logtimeline import Generation, build_timelines
from sitesnap.repository.repository import Repository
from sitesnap.sources.dburl import parse_database_url, url_with_secret

__all__ = ["ENGINE", "PgCapture", "server_address"]

ENGINE = "postgres"
_PROGRAMS = ("pg_receivewal", "pg_basebackup", "pg_waldump")


def server_address(source_cfg: Any) -> ServerAddress:
    """The server and database of a ``postgres`` source's configuration (password resolved)."""
    url = parse_database_url(url_with_secret(str(source_cfg.url), getattr(source_cfg, "password", None),
                                             what=f"sources.{source_cfg.name}.password"), kind="postgres")
    return ServerAddress(url.host, url.port, url.user, url.password, url.database)


def _program(major: int, name: str) -> Path:
    path = server_bin(major, name)
    if path is None:
        package = server_package(major) if name == "pg_waldump" else f"postgresql-client-{major}"
        raise MissingTool(f"{name} for PostgreSQL {major} is not installed",
                          hint=f"Install it: apt-get install {package}")
    return path


class PgCapture:
    """One PostgreSQL source's capture into ``repo`` (start, tick, close).  Not thread-safe."""

    def __init__(self, repo: Repository, source: str, address: ServerAddress, *, spool: Path | None = None) -> None:
        self.repo, self.source, self.address = repo, source, address
        self.slot = slot_name(source, repo.config.id)
        self.spool = spool or Path(tempfile.gettempdir()) / f"sitesnap-pgwal-{repo.config.id[:12]}-{self.slot}"
        self.stats = CaptureStats(source)
        self.server: PgServer | None = None
        self.receiver: Receiver | None = None
        self.generation, self.sequence, self.timeline = b"", 0, 0
        self.pos, self.end_time_ns, self.scan_from, self.last_xact = 0, 0, 0, 0
        self.fixed: dict[str, Any] = {}

    def start(self) -> None:
        """Check the server, stream into the spool, then continue the newest generation or take a base."""
        self.server = server = PgServer(self.address)
        server.check_prerequisites()
        major = server.major
        programs = {name: _program(major, name) for name in _PROGRAMS}
        self.waldump = programs["pg_waldump"]
        self.basebackup = programs["pg_basebackup"]
        size = server.wal_segment_size()
        self.fixed = {"engine": ENGINE, "major": major, "system_id": server.system_id(), "segment_size": size}
        server.ensure_slot(self.slot)
        server.wait_slot_free(self.slot)
        self.receiver = Receiver(programs["pg_receivewal"], self.address, self.slot, self.spool, size)
        newest = self._newest_generation()
        if newest is not None and self._can_continue(newest):
            self._continue(newest)
            self.stats.resumed = True
        else:
            self.receiver.start()
            self.new_generation("first capture of this source" if newest is None
                                else "the WAL after the last stored position is no longer available")

    def close(self) -> None:
        if self.receiver is not None:
            self.receiver.close()
        if self.server is not None:
            self.server.close()

    def _newest_generation(self) -> Generation | None:
        timeline = build_timelines(logstream.load_segments(self.repo, self.source)).get(self.source)
        mine = [g for g in (timeline.generations if timeline else [])
                if g.base.params.get("system_id") == self.fixed["system_id"]]
        return max(mine, key=lambda g: (g.newest_ns, g.oldest_ns)) if mine else None

    def _can_continue(self, gen: Generation) -> bool:
        """Whether the WAL from the generation's last stored position is in the spool or will be streamed."""
        assert self.server is not None and self.receiver is not None
        last = gen.chain[-1] if gen.chain else gen.base
        if gen.broken:
            return False
        timeline = int(last.params.get("timeline", 0))
        if any(True for _ in self.receiver.covering(timeline, last.end_pos, last.end_pos + 1)):
            return True
        restart = self.server.slot_restart(self.slot)
        if restart is None or restart > last.end_pos:
            return False  # the server may have recycled the WAL after the stored position
        start = self.receiver.resume_point()
        start = restart - restart % int(self.fixed["segment_size"]) if start is None else start
        return start <= last.end_pos  # where pg_receivewal begins, at or before what is needed

    def _continue(self, gen: Generation) -> None:
        assert self.receiver is not None
        last = gen.chain[-1] if gen.chain else gen.base
        self.generation, self.sequence = gen.generation, last.sequence + 1
        self.timeline = int(last.params["timeline"])
        self.pos, self.end_time_ns = last.end_pos, last.end_time_ns
        self.scan_from = int(last.params.get("scan_from", last.end_pos))
        self.last_xact = int(last.params.get("last_xact_lsn", 0))
        self.receiver.start()

    def new_generation(self, reason: str) -> None:
        """Store a base backup as segment 0 of a new generation."""
        assert self.receiver is not None and self.server is not None
        self.stats.reasons.append(reason)
        generation = os.urandom(16)
        with base_backup(self.basebackup, self.address, self.server.current_lsn) as (label, tar):
            size = int(self.fixed["segment_size"])
            start = wal_file_at(label.timeline, label.start_lsn, size).start
            seg = LogSegment(self.source, generation, 0, BASE, start, start, 0, 0, 0,
                             params={**self.fixed, "timeline": label.timeline, "start_lsn": label.start_lsn,
                                     "scan_from": start})
            logstream.save_segment(self.repo, seg, cast(BinaryIO, _Finishing(tar, seg, label, self.server.now_ns)))
        self.generation, self.sequence, self.timeline = generation, 1, label.timeline
        self.pos, self.end_time_ns, self.scan_from, self.last_xact = start, seg.end_time_ns, start, 0
        self.stats.generations_started += 1
        self.stats.segments += 1

    def tick(self) -> int:
        """Store what the receiver has flushed since the last tick; returns the commits stored.

        Flushed is what the slot says, or the end of a completed spool file
        (after a WAL switch the slot stays at the switch record until more
        WAL comes, but the receiver has closed the file: it is final).
        """
        assert self.server is not None and self.receiver is not None
        self.receiver.check()
        flushed = self.server.slot_restart(self.slot)
        if flushed is None:
            raise SourceError(f"the replication slot {self.slot} was dropped on {self.address.display()}")
        newer = [f.wal.timeline for f in self.receiver.files() if f.wal.timeline > self.timeline]
        if newer:  # a promoted standby: the log forks; replay here follows one timeline
            self.new_generation(f"the server switched to timeline {max(newer)}")
            return 0
        commits = 0
        size = int(self.fixed["segment_size"])
        while True:
            reach = max(flushed, self.receiver.completed_end(self.timeline, self.pos))
            if self.pos >= reach:
                break
            commits += self._store(min(reach, wal_file_at(self.timeline, self.pos, size).end))
        self.receiver.remove_stored(self.timeline, min(self.pos, wal_file_at(self.timeline, self.scan_from,
                                                                              size).start))
        return commits

    def _store(self, end: int) -> int:
        assert self.receiver is not None
        payload = self.receiver.read(self.timeline, self.pos, end)
        files = [(f.wal.name, f.path) for f in self.receiver.covering(self.timeline, self.scan_from, end)]
        xacts = [x for x in scan_xacts(self.waldump, files, self.timeline, self.scan_from, end)
                 if x.lsn > self.last_xact or not self.last_xact]
        end_time = max([self.end_time_ns, *(x.time_ns for x in xacts)])
        if xacts:
            self.scan_from, self.last_xact = xacts[-1].lsn, xacts[-1].lsn
        committed = sum(1 for x in xacts if x.commit)
        params: dict[str, Any] = {
            "engine": ENGINE, "timeline": self.timeline, "scan_from": self.scan_from,
            "last_xact_lsn": self.last_xact, "commits": committed, "aborts": len(xacts) - committed,
            "first_xact_ns": min((x.time_ns for x in xacts), default=0),
            "last_xact_ns": max((x.time_ns for x in xacts), default=0),
        }
        seg = LogSegment(self.source, self.generation, self.sequence, LOG, self.pos, end, self.end_time_ns,
                         end_time, 0, params=params)
        logstream.save_segment(self.repo, seg, payload)
        self.sequence, self.pos, self.end_time_ns = self.sequence + 1, end, end_time
        self.stats.segments += 1
        self.stats.commits += committed
        self.stats.bytes_shipped += len(payload)
        return committed


class _Finishing:
    """The base tar as read by ``save_segment``: at its end, the base's stop LSN and time go into the segment.

    The time is the server's clock after the backup ended (commit times,
    which restores compare with it, are the server's too).

    ``save_segment`` reads the payload to its end before it encodes the
    segment, so the header written is the finished one.
    """

    def __init__(self, tar: BinaryIO, seg: LogSegment, label: BaseLabel, clock: Callable[[], int]) -> None:
        self.tar, self.seg, self.label, self.clock = tar, seg, label, clock

    def read(self, n: int = -1) -> bytes:
        data = self.tar.read(n)
        if not data and self.label.stop_lsn and "stop_lsn" not in self.seg.params:
            now = self.clock()
            self.seg.params["stop_lsn"] = self.label.stop_lsn
            self.seg.start_time_ns = self.seg.end_time_ns = now
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)
