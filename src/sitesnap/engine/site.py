"""Site use cases: back up every source of a site into one snapshot; plan and run restores.

Snapshot tree of a site (docs/format/v1.md §8)::

    files/<source>/...        file sources
    db/<source>.sqlite        SQLite databases (a consistent copy of the file)
    db/<source>.pg.sql        PostgreSQL (pg_dump plain SQL)
    db/<source>.mysql.sql     MySQL / MariaDB (mariadb-dump)

Restores are ``plan_site_restore()`` then ``RestorePlan.execute()``: the CLI's
``--dry-run`` and the console's preview show the same plan that runs.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote, urlsplit, urlunsplit

from sitesnap.config import AnySource, FilesSource, SiteConfig, SqliteSource
from sitesnap.engine.archiver import Archiver, ArchiveSummary
from sitesnap.engine.backup import find_parent, root_meta, snapshot_summary
from sitesnap.engine.blobstream import BlobReader
from sitesnap.engine.browse import find_node
from sitesnap.engine.restorer import Restorer
from sitesnap.errors import RestoreError, SnapshotNotFound, SourceError, UsageError
from sitesnap.format.snapshot import Snapshot
from sitesnap.format.tree import Node
from sitesnap.progress import NULL_SINK, ProgressSink, Tracker
from sitesnap.repository.repository import Repository
from sitesnap.secrets import resolve
from sitesnap.sources.db import DatabaseSource, DumpInfo, DumpInfoFuture, open_database_source
from sitesnap.sources.files import Excluder

__all__ = [
    "RestoreItem",
    "RestorePlan",
    "SiteBackupResult",
    "backup_site",
    "plan_site_restore",
    "select_snapshot",
]

DB_EXT = {"sqlite": "sqlite", "postgres": "pg.sql", "mysql": "mysql.sql"}


def redact_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    return urlunsplit((parts.scheme, f"{parts.username}:***@{netloc[-1]}", parts.path, parts.query, ""))


def source_url(src: AnySource) -> str:
    """The database URL with the password from its secret reference, if any (never logged)."""
    url = str(getattr(src, "url", ""))
    secret = getattr(src, "password", None)
    if secret is None:
        return url
    password = resolve(secret, what=f"sources.{src.name}.password")
    parts = urlsplit(url)
    user = quote(parts.username or "", safe="")
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, f"{user}:{quote(password, safe='')}@{host}", parts.path, parts.query, ""))


def open_source(src: AnySource) -> DatabaseSource:
    if src.type == "sqlite":
        return open_database_source("sqlite", path=str(src.path), name=src.name)
    return open_database_source(src.type, url=source_url(src), name=src.name)


def tree_path(src: AnySource) -> str:
    if src.type == "files":
        return f"/files/{src.name}"
    return f"/db/{src.name}.{DB_EXT[src.type]}"


def origin(src: AnySource) -> str:
    if isinstance(src, FilesSource | SqliteSource):
        return str(src.path)
    return redact_url(str(src.url))


@dataclass
class SiteBackupResult:
    snapshot: Snapshot
    archive: ArchiveSummary
    duration: float
    sources: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {
            "snapshot_id": self.snapshot.id,
            "short_id": self.snapshot.short_id,
            "time": self.snapshot.time.isoformat(),
            "type": self.snapshot.type,
            "tags": self.snapshot.tags,
            "site": self.snapshot.site,
            "parent": self.snapshot.parent,
            "duration": round(self.duration, 3),
            "sources": self.sources,
            **self.archive.to_json(),
        }


def _selected(cfg: SiteConfig, names: list[str] | None) -> list[AnySource]:
    if not names:
        return list(cfg.sources)
    return [cfg.source(n) for n in names]


def backup_site(
    repo: Repository,
    cfg: SiteConfig,
    *,
    snapshot_type: str = "incremental",
    tags: list[str] | None = None,
    sources: list[str] | None = None,
    sink: ProgressSink = NULL_SINK,
    hostname: str | None = None,
    now: datetime | None = None,
) -> SiteBackupResult:
    """Capture the site's sources into one snapshot, files first, then database dumps.

    The snapshot's time is the moment the run started, or ``now`` when given
    (simulations and imports; it must be timezone-aware).  A source that fails
    fails the whole backup (no snapshot is written): a site snapshot that
    silently lacks its database would be worse than none.
    """
    chosen = _selected(cfg, sources)
    if not chosen:
        raise UsageError("the site configuration has no sources to back up")
    for src in chosen:
        if src.type in ("files", "sqlite") and not Path(src.path).exists():
            raise SourceError(f"source {src.name!r}: {src.path} does not exist")
    started_at = now or datetime.now(UTC)
    started = time.monotonic()
    host = hostname or socket.gethostname()
    site = cfg.site.name
    tracker = Tracker("backup", sink)
    records: list[dict[str, Any]] = []
    with contextlib.ExitStack() as early, repo.lock(operation=f"backup {site}"):
        # A dump that is archived first is started now: the dump tool's connection and
        # catalog queries (~0.1 s before its first byte) overlap loading the index.
        first = chosen[0] if not any(isinstance(s, FilesSource) for s in chosen) else None
        started_dump = early.enter_context(_start_dump(first)) if first is not None else None
        repo.load_index()
        parent = find_parent(repo, lambda s: s.site == site and s.hostname == host)
        if parent is not None:
            tracker.update(bytes_total=int(parent.summary.get("bytes_total", 0)))
        with Archiver(repo, repo.config.chunker, tracker, stream_chunker=repo.config.stream_chunker,
                      read_all=snapshot_type == "full") as archiver:
            file_nodes = []
            db_nodes = []
            for src in chosen:
                if isinstance(src, FilesSource):
                    tracker.update(phase=f"files {src.name}")
                    old = _parent_node(repo, parent, tree_path(src))
                    before = archiver.summary.bytes_total
                    fut = archiver.archive_path(str(src.path), os.fsencode(src.name), old, Excluder(list(src.exclude)))
                    file_nodes.append(fut)
                    records.append({"name": src.name, "kind": "files", "path": tree_path(src), "origin": origin(src),
                                    "size": archiver.summary.bytes_total - before})
            for src in chosen:
                if isinstance(src, FilesSource):
                    continue
                tracker.update(phase=f"dump {src.name}", force=True)
                if src is first and started_dump is not None:
                    node, info, seconds = _archive_dump(archiver, src, *started_dump)
                    early.close()
                else:
                    node, info, seconds = _dump(archiver, src)
                db_nodes.append(_done(node))
                records.append({
                    "name": src.name, "kind": src.type, "path": tree_path(src), "origin": origin(src),
                    "size": node.size, "seconds": round(seconds, 3), **info.to_dict(),
                })
            children = []
            if file_nodes:
                children.append(archiver.make_dir(root_meta(b"files"), file_nodes))
            if db_nodes:
                children.append(archiver.make_dir(root_meta(b"db"), db_nodes))
            root = archiver.make_dir(root_meta(), children).result()
            summary = archiver.summary
        # Send the latest counters now: the last packs may take a while to upload.
        tracker.update(phase="upload", force=True)
        repo.flush()
        duration = time.monotonic() - started
        assert root.subtree is not None
        snap = Snapshot(
            time=started_at,
            tree=root.subtree,
            paths=[origin(s) for s in chosen],
            hostname=host,
            username=getpass.getuser(),
            tags=sorted(set(tags or [])),
            type=snapshot_type,
            parent=parent.id if parent else None,
            site=site,
            sources=records,
            summary=snapshot_summary(summary, duration, repo),
        )
        repo.save_snapshot(snap)
    tracker.finish()
    return SiteBackupResult(snap, summary, time.monotonic() - started, records)


def _done(node: Node) -> Any:
    from concurrent.futures import Future

    fut: Future[Node] = Future()
    fut.set_result(node)
    return fut


def _parent_node(repo: Repository, parent: Snapshot | None, path: str) -> Node | None:
    if parent is None:
        return None
    try:
        return find_node(repo, parent.tree, path)
    except UsageError:
        return None


def _dump(archiver: Archiver, src: AnySource) -> tuple[Node, DumpInfo, float]:
    with _start_dump(src) as started:
        return _archive_dump(archiver, src, *started)


@contextlib.contextmanager
def _start_dump(src: AnySource) -> Iterator[tuple[BinaryIO, DumpInfoFuture, float]]:
    """The source's dump, started: (stream, info future, start time); ends the dump on exit."""
    t0 = time.monotonic()
    with open_source(src).dump() as (stream, future):
        yield stream, future, t0


def _archive_dump(archiver: Archiver, src: AnySource, stream: BinaryIO, future: DumpInfoFuture,
                  t0: float) -> tuple[Node, DumpInfo, float]:
    node = archiver.archive_stream(os.fsencode(f"{src.name}.{DB_EXT[src.type]}"), stream)
    return node, future.result(), time.monotonic() - t0


# --- choosing a snapshot ----------------------------------------------------------------


def parse_when(text: str) -> datetime:
    """'2026-11-20 14:00' (local time), ISO 8601 with an offset, or 'now'."""
    if text.strip().lower() == "now":
        return datetime.now(UTC)
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"--at: cannot read {text!r}; use e.g. '2026-11-20 14:00' or ISO 8601") from None
    if when.tzinfo is None:
        when = when.astimezone()  # local time zone
    return when


def select_snapshot(repo: Repository, site: str, ref: str | None, at: str | None) -> Snapshot:
    """``latest`` / an ID for this site, or the newest at or before ``at``.

    ``latest`` and ``--at`` skip ``pre-restore`` safety snapshots: after a
    restore, "latest" still means the latest backup.  Name a safety snapshot
    by its ID to undo a restore.
    """
    snaps = [
        s for s in repo.load_snapshots(on_error=lambda *_: None) if s.site == site and s.type != "pre-restore"
    ]
    if at is not None:
        when = parse_when(at)
        eligible = [s for s in snaps if s.time <= when]
        if not eligible:
            raise SnapshotNotFound(f"site {site!r} at or before {when.isoformat()}",
                                   hint="The oldest snapshot is newer; list them with 'sitesnap snapshots'.")
        return eligible[-1]
    if ref is None or ref == "latest":
        if not snaps:
            raise SnapshotNotFound(f"site {site!r}", hint="No snapshot of this site yet: run 'sitesnap backup'.")
        return snaps[-1]
    snap = repo.find_snapshot(ref)
    if snap.site != site:
        raise UsageError(f"snapshot {snap.short_id} belongs to {snap.site or 'no site'!r}, not {site!r}")
    return snap


# --- restore plans ----------------------------------------------------------------------


@dataclass
class RestoreItem:
    source: str
    kind: str
    target: str
    in_place: bool
    exists: bool
    before: dict[str, int] = field(default_factory=dict)
    after: dict[str, int] = field(default_factory=dict)
    overwrite: int = 0
    create: int = 0
    delete: int = 0
    size: int = 0
    damaged: str = ""
    result: dict[str, Any] = field(default_factory=dict)
    raw_target: str = field(default="", repr=False)  # the target as given, credentials included; never shown

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "raw_target"}


@dataclass
class RestorePlan:
    repo: Repository
    cfg: SiteConfig
    snapshot: Snapshot
    items: list[RestoreItem]
    safety_snapshot: str | None = None

    @property
    def overwrites_live_data(self) -> bool:
        return any(i.in_place and i.exists for i in self.items)

    def to_json(self) -> dict[str, Any]:
        return {
            "snapshot_id": self.snapshot.id,
            "snapshot_time": self.snapshot.time.isoformat(),
            "site": self.snapshot.site,
            "overwrites_live_data": self.overwrites_live_data,
            "items": [i.to_json() for i in self.items],
            "safety_snapshot": self.safety_snapshot,
        }

    def execute(
        self,
        *,
        safety: bool = True,
        sink: ProgressSink = NULL_SINK,
        on_step: Callable[[str], None] = lambda _m: None,
    ) -> RestorePlan:
        """Run the plan: pre-restore snapshot of what is overwritten, then each source, verified."""
        in_place = [i.source for i in self.items if i.in_place and i.exists and not i.damaged]
        if safety and in_place:
            on_step(f"taking a pre-restore snapshot of {', '.join(in_place)}")
            pre = backup_site(self.repo, self.cfg, snapshot_type="pre-restore",
                              tags=["pre-restore", f"before-{self.snapshot.short_id}"], sources=in_place)
            self.safety_snapshot = pre.snapshot.id
        tracker = Tracker("restore", sink)
        tracker.update(bytes_total=sum(i.size for i in self.items), force=True)
        with self.repo.lock(operation=f"restore {self.snapshot.site}"):
            for item in self.items:
                on_step(f"restoring {item.source} to {item.target}")
                tracker.update(phase=item.source, force=True)
                src = self.cfg.source(item.source)
                node = find_node(self.repo, self.snapshot.tree, tree_path(src))
                if src.type == "files":
                    item.result = _restore_files(self.repo, node, item, tracker, Excluder(list(src.exclude)))
                else:
                    item.result = _restore_db(self.repo, self.snapshot, src, node, item, sink)
        tracker.finish()
        return self


def _db_info(snapshot: Snapshot, name: str) -> DumpInfo:
    for rec in snapshot.sources:
        if rec.get("name") == name:
            return DumpInfo.from_dict(rec)
    raise RestoreError(f"snapshot {snapshot.short_id} has no record of source {name!r}")


def plan_site_restore(
    repo: Repository,
    cfg: SiteConfig,
    snapshot: Snapshot,
    sources: list[str] | None = None,
    targets: dict[str, str] | None = None,
) -> RestorePlan:
    targets = dict(targets or {})
    recorded = {r.get("name") for r in snapshot.sources}
    names = sources or [s.name for s in cfg.sources if s.name in recorded]
    for name in list(targets):
        if name not in names:
            raise UsageError(f"--to {name}=...: {name!r} is not among the sources being restored")
    items: list[RestoreItem] = []
    for name in names:
        src = cfg.source(name)
        if name not in recorded:
            raise UsageError(f"snapshot {snapshot.short_id} does not contain source {name!r}")
        target = targets.get(name)
        in_place = target is None
        if src.type == "files":
            path = target or str(src.path)
            item = RestoreItem(name, "files", path, in_place, os.path.exists(path))
            _plan_files(repo, snapshot, src, item)
        else:
            db = open_source(src)
            info = _db_info(snapshot, name)
            node = find_node(repo, snapshot.tree, tree_path(src))
            try:
                state = db.inspect(None if in_place else _target_for(src, target))
            except SourceError as exc:
                if src.type != "sqlite":
                    raise
                # A damaged SQLite file is the typical reason to restore: keep it aside, don't fail.
                path = _target_for(src, target) or str(src.path)
                item = RestoreItem(name, src.type, path, in_place, True, after=dict(info.tables), size=node.size,
                                   damaged=exc.message)
            else:
                item = RestoreItem(name, src.type, redact_url(state.target) if src.type != "sqlite" else state.target,
                                   in_place, state.exists, before=dict(state.tables), after=dict(info.tables),
                                   size=node.size, raw_target=_target_for(src, target) or "")
        items.append(item)
    return RestorePlan(repo, cfg, snapshot, items)


def _target_for(src: AnySource, target: str | None) -> str | None:
    if target is None:
        return None
    if src.type == "sqlite":
        return str(Path(target).expanduser().absolute())
    return target


def _plan_files(repo: Repository, snapshot: Snapshot, src: FilesSource, item: RestoreItem) -> None:
    from sitesnap.engine.browse import walk_tree

    node = find_node(repo, snapshot.tree, tree_path(src))
    wanted: dict[str, Node] = {}
    if node.subtree is not None:
        wanted = {p.lstrip("/"): n for p, n in walk_tree(repo, node.subtree) if n.type != "dir"}
    item.size = sum(n.size for n in wanted.values())
    existing = set(_existing_files(Path(item.target), Excluder(list(src.exclude))))
    item.overwrite = len(existing & wanted.keys())
    item.create = len(wanted.keys() - existing)
    item.delete = len(existing - wanted.keys()) if item.in_place else 0


def _existing_files(root: Path, excluder: Excluder) -> list[str]:
    """Relative paths of files and symlinks under ``root`` that the source's excludes do not cover."""
    found: list[str] = []
    if not root.is_dir():
        return found
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        rel_of = (lambda n: n) if rel_dir == "." else (lambda n, d=rel_dir: f"{d}/{n}")
        dirnames[:] = [d for d in dirnames if not excluder.excluded(rel_of(d), True)]
        for fname in filenames:
            if not excluder.excluded(rel_of(fname), False):
                found.append(rel_of(fname))
    return found


def _carry_over_excluded(old: Path, new: Path, excluder: Excluder) -> None:
    """Move what the excludes kept out of the snapshot (caches, temp files) into the new tree.

    Excluded paths were never backed up, so an in-place restore must not
    delete them.
    """
    for dirpath, dirnames, filenames in os.walk(old):
        rel_dir = os.path.relpath(dirpath, old)
        rel_of = (lambda n: n) if rel_dir == "." else (lambda n, d=rel_dir: f"{d}/{n}")
        keep_dirs = []
        for d in dirnames:
            if excluder.excluded(rel_of(d), True):
                _move_into(old / rel_of(d), new / rel_of(d))
            else:
                keep_dirs.append(d)
        dirnames[:] = keep_dirs
        for fname in filenames:
            if excluder.excluded(rel_of(fname), False):
                _move_into(old / rel_of(fname), new / rel_of(fname))


def _move_into(src: Path, dst: Path) -> None:
    if dst.exists() or dst.is_symlink():
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    os.rename(src, dst)


def _restore_files(
    repo: Repository, node: Node, item: RestoreItem, tracker: Tracker, excluder: Excluder
) -> dict[str, Any]:
    """Restore into a fresh sibling directory, then swap it in: a failure leaves the old tree."""
    target = Path(item.target)
    if node.subtree is None:
        raise RestoreError(f"source {item.source}: the snapshot holds no directory")
    if not item.exists:
        summary = Restorer(repo, tracker).restore_tree(node.subtree, str(target), meta=node)
        return summary.to_json()
    staging = target.with_name(f".{target.name}.sitesnap-restore")
    old = target.with_name(f".{target.name}.sitesnap-old")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.rmtree(old, ignore_errors=True)
    try:
        summary = Restorer(repo, tracker).restore_tree(node.subtree, str(staging), meta=node)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    try:
        os.rename(target, old)
    except OSError:
        # A mount point or busy directory cannot be moved: write in place instead.
        shutil.rmtree(staging, ignore_errors=True)
        summary = Restorer(repo, tracker).restore_tree(node.subtree, str(target), meta=node)
        return {**summary.to_json(), "method": "in-place"}
    _carry_over_excluded(old, staging, excluder)
    os.rename(staging, target)
    shutil.rmtree(old, ignore_errors=True)
    return {**summary.to_json(), "method": "swap"}


def _restore_db(
    repo: Repository, snapshot: Snapshot, src: AnySource, node: Node, item: RestoreItem, sink: ProgressSink
) -> dict[str, Any]:
    info = _db_info(snapshot, src.name)
    db = open_source(src)
    if item.damaged:
        item.result["kept_damaged"] = _move_aside(Path(item.target))
    reader = BlobReader(repo, node.content)
    target = None if item.in_place else (item.raw_target or _target_for(src, item.target))
    import io

    report = db.restore(io.BufferedReader(reader, 1 << 20), info, target, sink)
    if report.tables != info.tables:
        raise RestoreError(f"source {src.name}: restored row counts differ from the snapshot's record")
    return {**item.result, **report.to_dict()}


def _move_aside(path: Path) -> str:
    """Rename a damaged database file (and its -wal/-shm) aside; returns the new name."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    aside = path.with_name(f"{path.name}.damaged-{stamp}")
    for suffix in ("", "-wal", "-shm", "-journal"):
        src = Path(str(path) + suffix)
        if src.exists():
            os.rename(src, Path(str(aside) + suffix))
    return str(aside)
