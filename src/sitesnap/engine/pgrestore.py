"""Restore a continuous PostgreSQL source to any second: base + WAL in a private cluster, then dump and load.

1. Choose the generation whose window holds T (base finished at or before
   T, a stored commit or abort at or after T) and the segments to replay:
   up to and including the first one holding a transaction end after T;
   when none is after T, all of them, and recovery runs to the end of the
   stored WAL (everything in it committed at or before T).
2. Refuse before touching anything: no server programs of the base's major
   version (``postgresql-<major>``), not enough free disk, WAL not reaching
   the base's consistent point, a gap.
3. In a private cluster (``capture/pgcluster.py``): unpack the base, write
   the WAL files, recover with ``recovery_target_time`` = T inclusive and
   ``recovery_target_action = promote``.
4. ``datadir:/path`` moves the recovered data directory there; anything else
   is a database URL (default: the source's own database): the source's
   database is dumped from the recovered cluster with ``pg_dump`` and loaded
   through the source's restore (temp database, load, row-count check,
   swap), so a failed load leaves the target as it was.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, cast

from sitesnap.capture.pgcluster import RecoveryCluster
from sitesnap.capture.pgwal import WalFile, server_bin, server_package, wal_file_at
from sitesnap.engine.pgcapture import ENGINE
from sitesnap.engine.replay import RestoredAt, source_timelines, to_datetime, to_time_ns
from sitesnap.errors import RestoreError
from sitesnap.format.logseg import LogSegment
from sitesnap.repository import logstream
from sitesnap.repository.logtimeline import Generation
from sitesnap.repository.repository import Repository
from sitesnap.sources.postgres import PostgresSource

__all__ = ["DATADIR", "Recovery", "plan_recovery", "restore_at", "wal_file_bytes"]

DATADIR = "datadir:"
_HEADROOM = 1.25  # extraction, WAL written twice (wal/ and pg_wal/), catalogs the server adds


@dataclasses.dataclass
class Recovery:
    """What a restore to ``at_ns`` replays: a base, the log segments, and where recovery stops."""

    source: str
    generation: Generation
    segments: list[LogSegment]
    at_ns: int
    to_end: bool  # no stored transaction end after T: recover to the end of the stored WAL
    major: int
    segment_size: int

    def wal_files(self) -> list[WalFile]:
        names: dict[str, WalFile] = {}
        for seg in self.segments:
            wal = wal_file_at(int(seg.params["timeline"]), seg.start_pos, self.segment_size)
            names.setdefault(wal.name, wal)
        return list(names.values())

    def disk_needed(self) -> int:
        return int((self.generation.base.payload_size + 2 * len(self.wal_files()) * self.segment_size) * _HEADROOM)


def _choose(gen: Generation, at_ns: int) -> tuple[list[LogSegment], bool]:
    chosen: list[LogSegment] = []
    for seg in gen.chain:
        chosen.append(seg)
        if int(seg.params.get("last_xact_ns", 0)) > at_ns:
            return chosen, False
    return chosen, True


def plan_recovery(repo: Repository, source: str, at: datetime) -> Recovery:
    """What restoring ``source`` to ``at`` replays; RestoreError when it cannot be exact."""
    at_ns = to_time_ns(at)
    timeline = source_timelines(repo).get(source)
    gens = [g for g in (timeline.generations if timeline else []) if g.base.params.get("engine") == ENGINE]
    if not gens:
        raise RestoreError(f"source {source!r} has no continuous PostgreSQL capture in this repository",
                           hint="Set continuous = true on the source and run 'sitesnap capture'.")
    found = [g for g in gens if g.oldest_ns // 1000 <= at_ns // 1000 <= g.newest_ns // 1000]
    when = to_datetime(at_ns).isoformat()
    if not found:
        oldest, newest = min(g.oldest_ns for g in gens), max(g.newest_ns for g in gens)
        where = ("after the newest captured transaction" if at_ns > newest else
                 "before the oldest base" if at_ns < oldest else "in a gap of the capture")
        raise RestoreError(f"{when} is {where} of {source!r} ({to_datetime(oldest).isoformat()} .. "
                           f"{to_datetime(newest).isoformat()})", hint="See 'sitesnap timeline'.")
    gen = found[-1]
    segments, to_end = _choose(gen, at_ns)
    stop_lsn = int(gen.base.params.get("stop_lsn", 0))
    reach = segments[-1].end_pos if segments else gen.base.end_pos
    if not stop_lsn or reach < stop_lsn:
        raise RestoreError(f"the WAL stored for {source!r} does not yet reach the consistent point of the base "
                           f"taken at {to_datetime(gen.oldest_ns).isoformat()}",
                           hint="Let the capture run a little longer, or pick an older time.")
    return Recovery(source, gen, segments, at_ns, to_end, int(gen.base.params["major"]),
                    int(gen.base.params["segment_size"]))


def wal_file_bytes(repo: Repository, segments: list[LogSegment], wal: WalFile) -> bytes:
    """The WAL file ``wal`` rebuilt from the segments; zeros after the last stored byte (the end of the log)."""
    out = bytearray(wal.size)
    for seg in segments:
        if int(seg.params.get("timeline", 0)) != wal.timeline or seg.end_pos <= wal.start or seg.start_pos >= wal.end:
            continue
        data = b"".join(logstream.read_payload(repo, seg))
        out[seg.start_pos - wal.start : seg.end_pos - wal.start] = data
    return bytes(out)


def _check_host(rec: Recovery, workdir: Path) -> Path:
    bin_postgres = server_bin(rec.major, "postgres")
    if bin_postgres is None or server_bin(rec.major, "pg_ctl") is None:
        raise RestoreError(f"the PostgreSQL {rec.major} server programs are not installed; a base of a "
                           f"{rec.major} cluster recovers only with them",
                           hint=f"Install them: apt-get install {server_package(rec.major)}")
    free = shutil.disk_usage(workdir).free
    if free < rec.disk_needed():
        raise RestoreError(f"{workdir} has {free >> 20} MiB free, the recovery needs about "
                           f"{rec.disk_needed() >> 20} MiB", hint="Free space, or set TMPDIR to a larger disk.")
    return bin_postgres.parent


def _recover(repo: Repository, rec: Recovery, cluster: RecoveryCluster) -> None:
    cluster.unpack_base(logstream.read_payload(repo, rec.generation.base))
    for wal in rec.wal_files():
        cluster.add_wal(wal.name, wal_file_bytes(repo, rec.segments, wal))
    cluster.configure(None if rec.to_end else to_datetime(rec.at_ns))
    cluster.start()


def _load(cluster: RecoveryCluster, source_cfg: Any, target: str) -> str:
    """Dump the source's database from the recovered cluster and restore it into ``target``."""
    configured = PostgresSource.from_config(source_cfg)
    database = configured.url.database
    if database not in cluster.databases():
        raise RestoreError(f"the recovered cluster has no database {database!r}")
    recovered = PostgresSource("postgresql://postgres@localhost/" + database, name=source_cfg.name,
                               bin_dirs=[str(cluster.bin_dir)])
    recovered.url = dataclasses.replace(recovered.url, host=cluster.socket_dir, port=cluster.port)
    with tempfile.TemporaryFile(dir=cluster.root) as spill:
        with recovered.dump() as (stream, future):
            shutil.copyfileobj(stream, spill, 1 << 20)
        spill.seek(0)
        configured.restore(cast(BinaryIO, spill), future.result(), target or None)
    return configured.public_target(target) if target else configured.origin()


def restore_at(repo: Repository, source_cfg: Any, at: datetime, target: str) -> RestoredAt:
    """Recover ``source_cfg``'s cluster to ``at`` and put its database into ``target`` (module docstring).

    The index must be loaded.  ``target``: a database URL, empty for the
    source's own database, or ``datadir:/path`` for the whole data directory.
    """
    rec = plan_recovery(repo, source_cfg.name, at)
    datadir = Path(target[len(DATADIR):]) if target.startswith(DATADIR) else None
    if datadir is not None and datadir.exists() and any(datadir.iterdir()):
        raise RestoreError(f"{datadir} exists and is not empty", hint="Name a new directory.")
    workdir = Path(tempfile.mkdtemp(prefix="sitesnap-pgpitr-"))
    cluster: RecoveryCluster | None = None
    try:
        cluster = RecoveryCluster(_check_host(rec, workdir), workdir)
        _recover(repo, rec, cluster)
        last = cluster.last_transaction()
        state_ns = to_time_ns(last.astimezone(UTC)) if last else rec.generation.oldest_ns
        if datadir is not None:
            cluster.stop()
            datadir.parent.mkdir(parents=True, exist_ok=True)
            if datadir.exists():
                datadir.rmdir()
            shutil.move(str(cluster.data), datadir)
            shown = str(datadir)
        else:
            shown = _load(cluster, source_cfg, target)
    finally:
        if cluster is not None:
            cluster.remove()
        shutil.rmtree(workdir, ignore_errors=True)
    commits = sum(int(s.params.get("commits", 0)) for s in rec.segments
                  if int(s.params.get("last_xact_ns", 0)) <= rec.at_ns)
    return RestoredAt(source_cfg.name, shown, rec.generation.generation.hex(), state_ns, commits, "ok")
