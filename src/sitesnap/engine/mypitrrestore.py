"""Restore a MySQL/MariaDB source to any second of its binlog capture, into any database.

The base dump is loaded into a temporary database beside the target
(``sources/swap.py``), its row counts checked against the dump's record, the
binlog replayed into it from the base's coordinates up to the chosen second
for the source's database only (``capture/mysqlreplay.py``), and only then is
it swapped in.  A failure anywhere leaves the target as it was.

Resolution: binlog timestamps are whole seconds (the server's clock), so
"at 13:38:27" means every transaction stamped up to and including 13:38:27
and none stamped later.  The replay is a prefix of the binlog: it stops at
the first transaction stamped after that second.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from sitesnap.capture.mysqlreplay import Replay, replay_binlog
from sitesnap.capture.mysqlserver import Login, option_file
from sitesnap.engine.blobstream import BlobReader
from sitesnap.engine.replay import RestoredAt, source_timelines, to_datetime
from sitesnap.errors import RestoreError
from sitesnap.format.logseg import LogSegment
from sitesnap.progress import NULL_SINK, ProgressSink, Tracker
from sitesnap.repository import logstream
from sitesnap.repository.logtimeline import Generation
from sitesnap.repository.repository import Repository
from sitesnap.sources.db import DumpInfo
from sitesnap.sources.dbtool import tool_help
from sitesnap.sources.dburl import DatabaseURL, parse_database_url, url_text
from sitesnap.sources.mysql import MysqlRestore, MysqlSource
from sitesnap.sources.mysqlsql import count_tables
from sitesnap.sources.swap import mismatch

__all__ = ["BASE_DUMP_OPTIONS", "MysqlRestoredAt", "login_of", "mysql_source", "restore_at"]

BASE_DUMP_OPTIONS = ("--master-data=2", "--gtid")
_SECOND = 1_000_000_000


def mysql_source(source_cfg: Any, *, dump_options: Sequence[str] = ()) -> MysqlSource:
    """The source named by a config ``[[sources]]`` entry of type mysql."""
    base = MysqlSource.from_config(source_cfg)
    return MysqlSource(url_text(base.url), name=base.name, dump_options=dump_options)


def login_of(url: DatabaseURL) -> Login:
    return Login(url.host, url.port, url.user, url.password or None)


@dataclass
class MysqlRestoredAt(RestoredAt):
    """A restore to a second: ``through`` is the last instant included (binlog times are whole seconds)."""

    through_ns: int = 0

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), "resolution": "1s",
                "through": to_datetime(self.through_ns).isoformat(),
                "meaning": "every transaction stamped up to and including this second, none later"}


@dataclass
class _Plan:
    """What to replay on top of the base: the files (rebuilt from segments) up to ``stop`` in the last."""

    files: list[str]
    segments: list[LogSegment]
    stop: int
    commits: int
    state_ns: int


def _pick(generations: list[Generation], source: str, through_ns: int) -> Generation:
    second = through_ns // _SECOND
    found = [g for g in generations if g.oldest_ns <= through_ns and second <= g.newest_ns // _SECOND]
    if found:
        return found[-1]
    if not generations:
        raise RestoreError(f"source {source!r} has no binlog capture in this repository",
                           hint="Set continuous = true on the source and run the capture (docs/mysql-pitr.md).")
    newest = max(g.newest_ns for g in generations)
    when = to_datetime(through_ns - _SECOND + 1).isoformat()
    if through_ns > newest:
        raise RestoreError(f"{when} is after the newest captured transaction of {source!r} "
                           f"({to_datetime(newest).isoformat()})", hint="Restore to that second or earlier.")
    raise RestoreError(f"{when} is before the oldest base of {source!r} or in a gap of its capture",
                       hint="Pick a second inside a generation; see 'sitesnap timeline'.")


def _plan(gen: Generation, through_ns: int) -> _Plan:
    """Every transaction after the base position stamped at or before ``through_ns``, as a prefix."""
    base_file, base_pos = str(gen.base.params["file"]), int(gen.base.params["pos"])
    plan = _Plan([base_file], [], base_pos, 0, gen.base.end_time_ns)
    for seg in gen.chain:
        name, start = str(seg.params["file"]), int(seg.params["start"])
        plan.segments.append(seg)
        for commit in seg.commits:
            if commit.time_ns > through_ns:
                return plan
            end = start + commit.payload_end
            if name == base_file and end <= base_pos:
                continue  # in the base already
            if name != plan.files[-1]:
                plan.files.append(name)
            plan.stop, plan.state_ns, plan.commits = end, commit.time_ns, plan.commits + 1
    return plan


def _write_files(repo: Repository, plan: _Plan, directory: Path) -> list[str]:
    """The binlog files of the plan, rebuilt byte for byte from their segments."""
    paths = {name: directory / name for name in plan.files}
    for seg in plan.segments:
        path = paths.get(str(seg.params["file"]))
        if path is None:
            continue
        with open(path, "ab") as fh:
            if fh.tell() != int(seg.params["start"]):
                raise RestoreError(f"binlog {path.name} does not continue at offset {seg.params['start']}")
            for data in logstream.read_payload(repo, seg):
                fh.write(data)
    return [str(paths[name]) for name in plan.files]


class _ReplayRestore(MysqlRestore):
    """Load the base, check it, replay the binlog into the temporary database, then verify and swap."""

    def __init__(self, source: MysqlSource, url: DatabaseURL, replay: Replay | None) -> None:
        super().__init__(source, url)
        self.replay = replay
        self.base_tables: dict[str, int] = {}

    def load(self, stream: BinaryIO, tracker: Tracker) -> int:
        read = super().load(stream, tracker)
        tables = self.count_temp()
        if tables != self.base_tables:
            raise RestoreError(mismatch(f"base of {self.display}", tables, self.base_tables))
        if self.replay is not None:
            replay = Replay(self.replay.files, self.replay.start, self.replay.stop, self.replay.database, self.temp)
            with option_file(login_of(self.url)) as options:
                binlog = self.source._tool(["mariadb-binlog", "mysqlbinlog"])
                replay_binlog(binlog, self.client, tool_help(self.client), options, replay)
        return read

    def verify_temp(self, info: DumpInfo) -> dict[str, int]:
        """Every base table is still there and countable after the replay."""
        tables = count_tables(self.admin, self.temp)
        lost = sorted(set(self.base_tables) - set(tables))
        if lost:
            raise RestoreError(f"after the binlog replay {self.display} lacks {', '.join(lost[:5])}")
        return tables


def _target_url(source: MysqlSource, target: str) -> DatabaseURL:
    if "://" in target:
        return parse_database_url(target, kind="mysql")
    return source.url.with_database(target)


def restore_at(repo: Repository, source_cfg: Any, at: datetime, target: str,
               progress: ProgressSink = NULL_SINK) -> MysqlRestoredAt:
    """Rebuild the mysql source as of the second ``at`` into ``target`` (a database name or mysql:// URL).

    The index must be loaded.  See the module docstring for what "at" means.
    """
    if at.tzinfo is None:
        raise RestoreError(f"{at.isoformat()} has no time zone")
    source = mysql_source(source_cfg)
    through_ns = (int(at.timestamp()) + 1) * _SECOND - 1
    timeline = source_timelines(repo).get(source.name)
    gen = _pick(timeline.generations if timeline else [], source.name, through_ns)
    plan = _plan(gen, through_ns)
    info = DumpInfo.from_dict(dict(gen.base.params["dump"]))
    url = _target_url(source, target)
    with tempfile.TemporaryDirectory(prefix="sitesnap-binlog-replay-") as tmp:
        replay = None
        if plan.commits:
            replay = Replay(_write_files(repo, plan, Path(tmp)), int(gen.base.params["pos"]), plan.stop,
                            str(gen.base.params["database"]), url.database)
        restore = _ReplayRestore(source, url, replay)
        restore.base_tables = dict(info.tables)
        with contextlib.closing(BlobReader(repo, list(gen.base.blobs))) as stream:
            report = restore.run(stream, info, progress)  # type: ignore[arg-type]
    return MysqlRestoredAt(source.name, report.target, gen.generation.hex(), plan.state_ns, plan.commits, "ok",
                           through_ns=through_ns)
