"""Point-in-time recovery of MySQL/MariaDB sources: binlog capture into the log stream, restore to a second.

A generation (docs/mysql-pitr.md) is a base segment (a consistent
``mariadb-dump --single-transaction --master-data=2 --gtid`` with the binlog
coordinates of its consistency point) followed by log segments, each a byte
range of one binlog file that ends at a transaction boundary, with the
commit time of every transaction in it.  Positions are ``file number << 32 |
offset`` (``capture/mysqlspool.py``), so segments chain across rotations.

:class:`MysqlCapture` has the shape of ``engine/continuous.py``'s
``SourceCapture``: :meth:`~MysqlCapture.start` checks the server, then resumes
the newest generation when the server still has every binlog file it needs,
and starts a new generation from a fresh base otherwise (the reason is
recorded: a purge behind a stopped capture is a gap, never papered over);
:meth:`~MysqlCapture.tick` ships what the spool received since the last tick.
:func:`restore_at` is in ``engine/mypitrrestore.py`` and re-exported here.
"""

from __future__ import annotations

import os
import zlib
from typing import Any

from sitesnap.capture.mysqlbase import CoordinateReader
from sitesnap.capture.mysqlevents import Transaction, scan_binlog
from sitesnap.capture.mysqlserver import Login, ServerFacts, binary_logs, check_server, server_time_ns
from sitesnap.capture.mysqlspool import BinlogSpool, binlog_name, binlog_number, position
from sitesnap.engine.continuous import CaptureStats
from sitesnap.engine.mypitrrestore import BASE_DUMP_OPTIONS, login_of, mysql_source, restore_at
from sitesnap.errors import SourceError
from sitesnap.format.logseg import BASE, LOG, Commit, LogSegment
from sitesnap.repository import logstream
from sitesnap.repository.logtimeline import build_timelines
from sitesnap.repository.repository import Repository

__all__ = ["MysqlCapture", "open_capture", "restore_at"]


def replica_id(source: str) -> int:
    """A server id for the spool's replication connection: stable per source, clear of small real ids."""
    return zlib.crc32(f"sitesnap:{source}".encode()) | 0x80000000


class MysqlCapture:
    """One MySQL/MariaDB source's binlog capture into ``repo``.  Not thread-safe; the index must be loaded."""

    def __init__(self, repo: Repository, source_cfg: Any) -> None:
        self.repo = repo
        self.source = mysql_source(source_cfg, dump_options=BASE_DUMP_OPTIONS)
        self.name = self.source.name
        self.database = self.source.url.database
        self.login: Login = login_of(self.source.url)
        self.stats = CaptureStats(self.name)
        self.facts: ServerFacts | None = None
        self.spool: BinlogSpool | None = None
        self.generation = b""
        self.sequence = 0
        self.end_time_ns = 0
        self.file = ""  # the binlog file being shipped, and the offset shipped up to in it
        self.offset = 0
        self.gtid = ""
        self.base_file, self.base_pos = "", 0  # transactions up to here are in the base already
        self.scanned = 0  # where listing the current file resumes (an event boundary)

    def _in_base(self, name: str) -> int:
        return self.base_pos if name == self.base_file else 0

    @property
    def warnings(self) -> list[str]:
        return self.facts.warnings if self.facts else []

    def start(self) -> None:
        """Check the server, resume or start a generation, and start copying the binlog."""
        self.facts = check_server(self.login)
        self.spool = BinlogSpool(self.login, replica_id(self.name))
        timeline = build_timelines(logstream.load_segments(self.repo, self.name)).get(self.name)
        if timeline is None or not timeline.generations:
            self.new_generation("first capture of this source")
            return
        newest = max(timeline.generations, key=lambda g: (g.newest_ns, g.oldest_ns))
        last = newest.chain[-1] if newest.chain else newest.base
        if newest.broken or "file" not in last.params:
            self.new_generation(f"the newest generation cannot be continued ({newest.broken or 'no position'})")
            return
        self.generation, self.sequence = newest.generation, last.sequence + 1
        self.end_time_ns = last.end_time_ns
        self.file, self.offset = _resume_point(last)
        self.scanned = 0
        self.base_file, self.base_pos = str(newest.base.params["file"]), int(newest.base.params["pos"])
        self.gtid = str(last.params.get("gtid", ""))
        if self._continue(resumed=True):
            self.stats.resumed = True

    def _continue(self, *, resumed: bool) -> bool:
        """(Re)start the spool at the current file, or start a new generation if the server purged it."""
        assert self.spool is not None
        if self.file not in binary_logs(self.login):
            what = "after a restart" if resumed else "while the capture was behind"
            self.new_generation(f"gap: the server purged binlog {self.file} {what}, before it was captured")
            return False
        self.spool.start(self.file)
        return True

    def new_generation(self, reason: str) -> None:
        """Store a base dump as segment 0 of a new generation, and follow the binlog from its file."""
        assert self.spool is not None
        self.stats.reasons.append(reason)
        seg = LogSegment(self.name, _new_generation_id(), 0, BASE, 0, 0, 0, 0, 0)
        with self.source.dump() as (stream, future):

            def finish(reader: CoordinateReader) -> None:
                if not reader.file:
                    raise SourceError("the dump carries no binlog coordinates (is log_bin on?)")
                now = server_time_ns(self.login)
                seg.start_pos = seg.end_pos = position(reader.file, 0)
                seg.start_time_ns = seg.end_time_ns = now
                seg.params = {"file": reader.file, "pos": reader.pos, "gtid": reader.gtid,
                              "database": self.source.url.database, "dump": future.result().to_dict()}

            logstream.save_segment(self.repo, seg, CoordinateReader(stream, finish))  # type: ignore[arg-type]
        self.generation, self.sequence, self.end_time_ns = seg.generation, 1, seg.end_time_ns
        self.file, self.offset, self.gtid = str(seg.params["file"]), 0, str(seg.params["gtid"])
        self.scanned = 0
        self.base_file, self.base_pos = self.file, int(seg.params["pos"])
        self.stats.generations_started += 1
        self.stats.segments += 1
        self.spool.start(self.file)

    def tick(self) -> int:
        """Ship the whole transactions the spool received since the last tick; returns how many."""
        assert self.spool is not None
        if not self.spool.running():
            self._continue(resumed=False)  # a purge behind it is a gap (new base); anything else, a restart
            return 0
        shipped = 0
        while True:
            following = binlog_name(self.file, binlog_number(self.file) + 1)
            closed = self.spool.has(following)  # looked at first: a file is complete once the next one exists
            size = self.spool.size(self.file)
            # Scanning resumes after what was scanned already (other databases' transactions, the part
            # of the base's file the base holds): each byte is listed once, however long this one idles.
            start = max(self.offset, self.scanned, self._in_base(self.file))
            if size <= start and not closed:
                return shipped
            txns: list[Transaction] = []
            if size > start:
                scan = scan_binlog(self.spool.program, str(self.spool.path(self.file)), size, start)
                closed, self.scanned = closed or scan.rotated, scan.safe_end
                # Only this database's transactions are commits of its log; the others' bytes ride along
                # (the replay filters them), so their clocks cannot cut a restore short.
                txns = [t for t in scan.transactions if t.concerns(self.database)]
            if not closed:
                if txns:
                    shipped += self._ship(txns, txns[-1].end, closed=False)
                return shipped
            shipped += self._ship(txns, size, closed=True)
            self.spool.discard(self.file)
            self.file, self.offset, self.scanned = following, 0, 0

    def _ship(self, txns: list[Transaction], end: int, *, closed: bool) -> int:
        """Store [offset, end) of the current file as the next log segment of the generation."""
        assert self.spool is not None
        with open(self.spool.path(self.file), "rb") as fh:
            fh.seek(self.offset)
            payload = fh.read(end - self.offset)
        if len(payload) != end - self.offset:
            raise SourceError(f"the spooled binlog {self.file} is shorter than the server said")
        commits, running = [], self.end_time_ns
        for txn in txns:
            running = max(running, txn.time_ns)  # the log never runs backwards; a restore stops at the first later
            commits.append(Commit(running, txn.end - self.offset))
        if commits and commits[-1].payload_end != len(payload):
            commits[-1] = Commit(commits[-1].time_ns, len(payload))  # a closed file's trailing rotate event
        next_pos = position(binlog_name(self.file, binlog_number(self.file) + 1), 0) if closed else \
            position(self.file, end)
        self.gtid = txns[-1].gtid if txns else self.gtid
        seg = LogSegment(self.name, self.generation, self.sequence, LOG, position(self.file, self.offset), next_pos,
                         self.end_time_ns, running, 0, commits,
                         params={"file": self.file, "start": self.offset, "end": end, "closed": closed,
                                 "gtid": self.gtid})
        logstream.save_segment(self.repo, seg, payload)
        self.sequence += 1
        self.offset, self.end_time_ns = end, running
        self.stats.segments += 1
        self.stats.commits += len(commits)
        self.stats.bytes_shipped += len(payload)
        return len(commits)

    def close(self) -> None:
        if self.spool is not None:
            self.spool.close()
            self.spool = None


def _resume_point(last: LogSegment) -> tuple[str, int]:
    """The file and offset to continue from after ``last`` (a base continues at its file's start)."""
    name = str(last.params["file"])
    if last.is_base:
        return name, 0
    if last.params.get("closed"):
        return binlog_name(name, binlog_number(name) + 1), 0
    return name, int(last.params["end"])


def _new_generation_id() -> bytes:
    return os.urandom(16)


def open_capture(repo: Repository, source_cfg: Any) -> MysqlCapture:
    """A capture of the mysql source ``source_cfg`` (config ``[[sources]]`` entry) into ``repo``; call start()."""
    return MysqlCapture(repo, source_cfg)
