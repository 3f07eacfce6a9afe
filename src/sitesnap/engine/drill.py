"""Restore drills: prove the latest snapshot of a site restores, and measure how long it takes.

:func:`run_drill` restores every source of the site's newest snapshot into
scratch places that nothing else uses (each source kind names its own,
:meth:`~sitesnap.sources.kind.StreamSource.scratch_target`), verifies what
came out, times it (the measured RTO) and removes the scratch places again::

    files     -> <scratch dir>/files/<source>/     every file's bytes re-hashed against its blob IDs
    sqlite    -> <scratch dir>/db/<source>.sqlite  PRAGMA integrity_check, row counts = the record
    postgres  -> <db>_drill_<hex> on the source's server   row counts = the record, then DROP
    mysql     -> <db>_drill_<hex> on the source's server   row counts = the record, then DROP

A continuous source (``continuous = true`` with a captured log stream) is
drilled the way it is restored to a point in time: a random time inside
its restorable window is chosen, the source is rebuilt to it into its
scratch target (``restore --at``'s path), and the chosen time is recorded
in the check's ``stats["at"]``.

Every data blob is read and authenticated on the way (the restore path
decrypts and hash-checks each blob).  Restored files are then read back and
cut at the snapshot's chunk boundaries; each piece must hash (keyed BLAKE3,
the repository's content ID) to the blob ID the snapshot names, so a file
that differs in a single byte from the snapshot's content is caught without
reading the repository twice.  A SHA-256 per file is computed on the same
pass and summarised in the report for comparison between drills.

The drill never touches the live site: files and SQLite go below a fresh
temporary directory, server databases get a new name on the source's own
server (with the source's credentials), and both are removed afterwards,
also when the drill fails (``keep=True`` leaves them for inspection).  A
failing source does not stop the others: the report names every problem.
This module records nothing; the runtime stores the report and alerts.
"""

from __future__ import annotations

import hashlib
import io
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sitesnap.config import AnySource, SiteConfig
from sitesnap.engine.blobstream import BlobReader
from sitesnap.engine.browse import find_node
from sitesnap.engine.continuous_kinds import is_continuous
from sitesnap.engine.replay import source_timelines, to_datetime
from sitesnap.engine.site import PointInTime, plan_site_restore, plan_site_restore_at, select_snapshot
from sitesnap.errors import IntegrityError, RestoreError, SitesnapError
from sitesnap.format.blob import DATA
from sitesnap.format.snapshot import Snapshot
from sitesnap.format.tree import Node
from sitesnap.progress import NULL_SINK, ProgressSink
from sitesnap.repository.check import check_repository
from sitesnap.repository.logtimeline import SourceTimeline
from sitesnap.repository.repository import Repository
from sitesnap.sources.db import DumpInfo, open_database_source
from sitesnap.sources.dburl import DatabaseURL, url_text
from sitesnap.sources.kind import StreamSource, TreeSource, compare_counts
from sitesnap.sources.registry import open_source

__all__ = ["DrillCheck", "DrillReport", "drill_database_name", "run_drill"]

OK, FAILED, SKIPPED = "ok", "failed", "skipped"


@dataclass
class DrillCheck:
    """The verdict on one source (or on the repository read, ``kind="repository"``)."""

    name: str
    kind: str
    status: str  # ok | failed | skipped
    target: str = ""
    detail: str = ""
    seconds: float = 0.0
    stats: dict[str, Any] = field(default_factory=dict)
    error: str = ""  # the error's code when it failed (``privilege``: the user may not, not damage)

    @property
    def ok(self) -> bool:
        return self.status != FAILED

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "status": self.status, "ok": self.ok,
                "target": self.target, "detail": self.detail, "seconds": round(self.seconds, 3),
                "stats": self.stats, "error": self.error}


@dataclass
class DrillReport:
    """The outcome of one drill.  ``rto_seconds`` covers restoring and verifying, not cleaning up."""

    site: str
    repository: str
    snapshot_id: str
    snapshot_time: datetime
    started_at: datetime
    rto_seconds: float
    checks: list[DrillCheck]
    scratch: str = ""
    kept: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def failures(self) -> list[DrillCheck]:
        return [c for c in self.checks if not c.ok]

    @property
    def message(self) -> str:
        """One line: what failed first (empty when the drill passed)."""
        bad = self.failures
        if not bad:
            return ""
        more = f" (+{len(bad) - 1} more)" if len(bad) > 1 else ""
        return f"{bad[0].name}: {bad[0].detail}{more}"

    def to_json(self) -> dict[str, Any]:
        return {
            "site": self.site, "repository": self.repository, "ok": self.ok,
            "snapshot_id": self.snapshot_id, "snapshot_time": self.snapshot_time.isoformat(),
            "started_at": self.started_at.isoformat(), "rto_seconds": round(self.rto_seconds, 3),
            "message": self.message, "checks": [c.to_dict() for c in self.checks],
            "scratch": self.scratch, "kept": self.kept,
        }


def drill_database_name(database: str) -> str:
    """``<db>_drill_<8 hex>``, short enough that the restore's own side name still fits 63 bytes."""
    head = database.encode("utf-8")[:29].decode("utf-8", "ignore")
    return f"{head}_drill_{secrets.token_hex(4)}"


def run_drill(
    repo: Repository,
    cfg: SiteConfig,
    *,
    repository: str = "",
    snapshot: str | None = None,
    scratch_dir: str | os.PathLike[str] | None = None,
    keep: bool = False,
    read_data_subset: float | None = None,
    sink: ProgressSink = NULL_SINK,
    log: Callable[[str], None] = lambda _m: None,
) -> DrillReport:
    """Restore ``snapshot`` (default: the site's latest) into scratch places, verify, time, clean up.

    ``read_data_subset`` (a fraction in (0, 1]) also reads that share of the
    repository's packs afterwards (``check --read-data-subset``).  Returns the
    report whether or not the drill passed; raises only when no snapshot can
    be chosen (:class:`SnapshotNotFound`) or the repository cannot be read at all.
    """
    started_at = datetime.now(UTC)
    t0 = time.monotonic()
    repo.load_index()
    snap = select_snapshot(repo, cfg.site.name, snapshot, None)
    log(f"drill of snapshot {snap.short_id} ({snap.time.isoformat(timespec='seconds')})")
    scratch = Path(tempfile.mkdtemp(prefix=f"sitesnap-drill-{cfg.site.name}-", dir=scratch_dir))
    drill = _Drill(repo, cfg, snap, scratch, sink, log)
    try:
        with repo.lock(operation=f"drill {cfg.site.name}"):
            checks = drill.restore_all()
        rto = time.monotonic() - t0
        if read_data_subset is not None:
            checks.append(_read_data(repo, read_data_subset, sink))
    finally:
        kept = drill.cleanup(keep)
    return DrillReport(cfg.site.name, repository, snap.id, snap.time, started_at, rto, checks,
                       str(scratch), kept)


class _Drill:
    """One drill's scratch places; :meth:`cleanup` removes every one it created."""

    def __init__(self, repo: Repository, cfg: SiteConfig, snap: Snapshot, scratch: Path,
                 sink: ProgressSink, log: Callable[[str], None]) -> None:
        self.repo, self.cfg, self.snap, self.scratch = repo, cfg, snap, scratch
        self.sink, self.log = sink, log
        self.databases: list[tuple[StreamSource, str]] = []  # (source, target with credentials)

    def restore_all(self) -> list[DrillCheck]:
        recorded = {str(r.get("name")): r for r in self.snap.sources}
        timelines = source_timelines(self.repo, errors=[]) if any(is_continuous(s) for s in self.cfg.sources) else {}
        checks = []
        for src in self.cfg.sources:
            timeline = timelines.get(src.name)
            if is_continuous(src) and timeline is not None and timeline.generations:
                checks.append(self._one(src, {}, timeline))
                continue
            if src.name not in recorded:
                checks.append(DrillCheck(src.name, src.type, SKIPPED,
                                         detail=f"not in snapshot {self.snap.short_id} (added since?)"))
                continue
            checks.append(self._one(src, recorded[src.name]))
        return checks

    def _one(self, src: AnySource, record: dict[str, Any], timeline: SourceTimeline | None = None) -> DrillCheck:
        check = DrillCheck(src.name, src.type, OK)
        t0 = time.monotonic()
        self.log(f"restoring {src.name} ({src.type})")
        try:
            kind = open_source(src)
            if timeline is not None and isinstance(kind, StreamSource):
                self._at_random_time(src, kind, timeline, check)
            elif isinstance(kind, TreeSource):
                self._tree(kind, check)
            elif isinstance(kind, StreamSource):
                self._stream(kind, DumpInfo.from_dict(record), check)
            else:
                check.status, check.detail = SKIPPED, f"a {src.type} source has no drill"
        except SitesnapError as exc:
            check.status, check.detail, check.error = FAILED, exc.message, exc.code
        except OSError as exc:
            check.status, check.detail = FAILED, f"{type(exc).__name__}: {exc}"
        check.seconds = time.monotonic() - t0
        self.log(f"{src.name}: {check.status}" + (f": {check.detail}" if check.detail else ""))
        return check

    def _tree(self, kind: TreeSource, check: DrillCheck) -> None:
        """Restore through the site restore into the scratch directory; re-hash every file."""
        target = self.scratch / kind.section / kind.entry()
        check.target = str(target)
        plan = plan_site_restore(self.repo, self.cfg, self.snap, [kind.name], {kind.name: str(target)})
        plan.execute(safety=False, sink=self.sink)
        node = find_node(self.repo, self.snap.tree, kind.tree_path())
        if node.subtree is None:
            raise RestoreError("the snapshot holds no directory for this source")
        manifest = hashlib.sha256()
        files = size = 0
        for rel, entry in _walk(self.repo, node.subtree, b""):
            path = os.path.join(os.fsencode(target), rel)
            if entry.type == "file":
                digest = verify_file(self.repo, path, entry, os.fsdecode(rel))
                manifest.update(rel + b"\0" + digest.encode() + b"\n")
                files, size = files + 1, size + entry.size
            elif entry.type == "symlink" and os.readlink(path) != entry.target:
                raise IntegrityError(f"{os.fsdecode(rel)}: restored symlink points elsewhere")
            elif entry.type == "dir" and not os.path.isdir(path):
                raise IntegrityError(f"{os.fsdecode(rel)}: directory missing after restore")
        check.stats = {"files": files, "bytes": size, "sha256_manifest": manifest.hexdigest()}
        check.detail = f"{files} files, {size} bytes verified"

    def _stream(self, kind: StreamSource, info: DumpInfo, check: DrillCheck) -> None:
        """Restore through the source itself into its scratch target, then let the source verify it."""
        target = kind.scratch_target(self.scratch, drill_database_name)
        self.databases.append((kind, target))
        check.target = kind.public_target(target)
        node = find_node(self.repo, self.snap.tree, kind.tree_path())
        stream = io.BufferedReader(BlobReader(self.repo, node.content), 1 << 20)
        report = kind.restore(stream, info, target, self.sink)
        verified = kind.verify(target, info, report)
        check.stats, check.detail = verified.stats, verified.detail

    def _at_random_time(self, src: AnySource, kind: StreamSource, timeline: SourceTimeline,
                        check: DrillCheck) -> None:
        """Rebuild a continuous source to a random time of its window in its scratch target; verify it."""
        rng = secrets.SystemRandom()
        gen = rng.choice(timeline.generations)
        at = to_datetime(rng.randint(gen.oldest_ns, gen.newest_ns))
        self.log(f"{src.name}: restoring to {at.isoformat()} (random time inside the window)")
        target = kind.scratch_target(self.scratch, drill_database_name)
        self.databases.append((kind, target))
        check.target = kind.public_target(target)
        plan = plan_site_restore_at(self.repo, self.cfg, PointInTime(at), [src.name], {src.name: target})
        plan.execute(safety=False, sink=self.sink)
        [item] = plan.items
        tables = kind.inspect(target).tables
        compare_counts(tables, item.after)
        check.stats = {"at": at.isoformat(), "state_time": item.result.get("state_time"),
                       "commits_applied": item.result.get("commits_applied"),
                       "integrity": item.result.get("integrity"), "tables": tables}
        check.detail = (f"as of {at.isoformat()}: {len(tables)} tables, {sum(tables.values())} rows, "
                        f"integrity {item.result.get('integrity')}")

    # -- cleanup --------------------------------------------------------------------

    def cleanup(self, keep: bool) -> list[str]:
        """Drop the drill databases and delete the scratch directory; names what was kept."""
        if keep:
            # Targets below the scratch directory are kept with it; name the others.
            return [str(self.scratch), *(k.public_target(t) for k, t in self.databases
                                         if not Path(t).is_relative_to(self.scratch))]
        for kind, target in self.databases:
            try:
                kind.drop(target)
            except Exception as exc:  # report, never mask the drill's own outcome
                self.log(f"warning: could not drop {kind.public_target(target)}: {exc}")
        shutil.rmtree(self.scratch, ignore_errors=True)
        return []


def _walk(repo: Repository, tree_id: bytes, rel: bytes) -> Iterator[tuple[bytes, Node]]:
    for node in repo.load_tree(tree_id):
        path = rel + b"/" + node.name if rel else node.name
        yield path, node
        if node.type == "dir" and node.subtree is not None:
            yield from _walk(repo, node.subtree, path)


def verify_file(repo: Repository, path: bytes | str, node: Node, name: str) -> str:
    """Check a restored file against the snapshot's chunk IDs; return its SHA-256 (hex).

    The file is cut at the snapshot's chunk sizes (from the index) and each
    piece's keyed content ID must equal the blob ID: equal IDs mean equal
    bytes.  Raises :class:`IntegrityError` naming the file otherwise.
    """
    digest = hashlib.sha256()
    total = 0
    with open(path, "rb") as fh:
        for blob_id in node.content:
            loc = repo.blob_location(DATA, blob_id)
            if loc is None:
                raise IntegrityError(f"{name}: blob {blob_id.hex()[:16]} is not in the index")
            piece = fh.read(loc[3])
            if len(piece) != loc[3] or repo.content_id(piece) != blob_id:
                raise IntegrityError(f"{name}: restored content differs from the snapshot")
            digest.update(piece)
            total += len(piece)
        if fh.read(1) or total != node.size:
            raise IntegrityError(f"{name}: restored size differs from the snapshot ({node.size} bytes)")
    return digest.hexdigest()


def _read_data(repo: Repository, subset: float, sink: ProgressSink) -> DrillCheck:
    t0 = time.monotonic()
    with repo.lock(operation="drill read-data"):
        report = check_repository(repo, read_data=True, subset=None if subset >= 1 else subset, sink=sink)
    detail = (f"read {report.packs_read} of {report.packs} packs, {report.blobs_read} blobs"
              if report.ok else f"{len(report.errors)} problem(s); first: {report.errors[0]}")
    return DrillCheck("repository", "repository", OK if report.ok else FAILED, detail=detail,
                      seconds=time.monotonic() - t0, stats={"subset": subset, **report.to_json()})


def drop_database(kind: str, url: DatabaseURL) -> None:
    """``DROP DATABASE IF EXISTS`` a drill database (and end its sessions), refusing any other name."""
    if not _is_drill_name(url.database):
        raise RestoreError(f"refusing to drop {url.display()}: not a drill database")
    text = url_text(url)
    open_database_source(kind, url=text).drop(text)


def _is_drill_name(database: str) -> bool:
    _head, sep, tail = database.rpartition("_drill_")
    return bool(sep) and len(tail) == 8 and all(c in "0123456789abcdef" for c in tail)
