"""Transaction boundaries and commit times of a MariaDB binlog file, read with ``mariadb-binlog``.

A segment of a MariaDB log stream must end where a transaction ends, or a
restore could apply half of one.  ``mariadb-binlog --base64-output=decode-rows``
on a local (spooled) file prints one header line per event::

    # at 2487
    #261130  0:53:20 server id 1  end_log_pos 2529 CRC32 0x6c5caa16 	GTID 0-1-12 trans

Every transaction starts with a ``GTID`` event; a ``trans`` group ends with
its ``Xid`` event (or a ``COMMIT``/``ROLLBACK`` query), any other group
(DDL, a standalone statement) with the one event after its GTID.  The time
of a transaction is its GTID event's timestamp: the server writes the group
at commit, stamped with the start of the committing statement, in whole
seconds.  Times are printed in the program's local zone, so it runs with
``TZ=UTC``.  Events outside any group (format description, rotate, binlog
checkpoint) may be cut anywhere.  The databases a transaction wrote are those
of its ``Table_map`` events (row format); a transaction without any (DDL, a
statement-format write) is taken to concern every database.  A file that is still being written may end
in a torn event: only events that end within the bytes on disk count.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sitesnap.errors import MissingTool, SourceError

__all__ = ["BinlogScan", "Transaction", "parse_listing", "scan_binlog"]

_HEADER = re.compile(
    r"^#(\d{6})\s+(\d{1,2}:\d\d:\d\d) server id \d+\s+end_log_pos (\d+)(?: CRC32 0x[0-9a-f]+)?\s+(.*)$")
_GTID = re.compile(r"^GTID (\d+-\d+-\d+)(.*)$")
_TABLE_MAP = re.compile(r"^Table_map: `((?:[^`]|``)*)`\.`")
_ENDING = ("COMMIT/*!*/;", "ROLLBACK/*!*/;", "COMMIT", "ROLLBACK")
_TIMEOUT = 600


@dataclass(frozen=True)
class Transaction:
    """One committed transaction: where it ends in the file, when it committed (UTC ns), its GTID."""

    end: int
    time_ns: int
    gtid: str
    databases: frozenset[str] = frozenset()  # empty: unknown, so any database

    def concerns(self, database: str) -> bool:
        return not self.databases or database in self.databases


@dataclass
class BinlogScan:
    """What a scan of one binlog file found from its start position on."""

    transactions: list[Transaction] = field(default_factory=list)
    safe_end: int = 0  # the largest offset not inside an open transaction
    rotated: bool = False  # a Rotate or Stop event: the server writes no more to this file


@dataclass
class _Group:
    gtid: str
    time_ns: int
    trans: bool
    databases: set[str] = field(default_factory=set)

    def done(self, end: int) -> Transaction:
        return Transaction(end, self.time_ns, self.gtid, frozenset(self.databases))


def _time_ns(day: str, clock: str) -> int:
    stamp = datetime.strptime(f"{day} {clock}", "%y%m%d %H:%M:%S").replace(tzinfo=UTC)
    return int(stamp.timestamp()) * 1_000_000_000


def parse_listing(lines: Iterable[str], size: int, start: int = 0) -> BinlogScan:
    """Parse ``mariadb-binlog`` output for a file of ``size`` bytes scanned from ``start``."""
    scan = BinlogScan(safe_end=start)
    group: _Group | None = None
    event_end = start
    for raw in lines:
        line = raw.rstrip("\n")
        header = _HEADER.match(line)
        if header is None:
            if group is not None and group.trans and line.strip() in _ENDING and event_end <= size:
                scan.transactions.append(group.done(event_end))
                scan.safe_end, group = event_end, None
            continue
        day, clock, end_text, what = header.groups()
        event_end = int(end_text)
        if event_end > size:
            break  # a torn event at the end of a file still being written
        gtid = _GTID.match(what)
        if gtid is not None:
            group = _Group(gtid.group(1), _time_ns(day, clock), "trans" in gtid.group(2).split())
            continue
        if group is None:
            scan.safe_end = event_end
            scan.rotated = scan.rotated or what.startswith(("Rotate to", "Stop"))
            continue
        table = _TABLE_MAP.match(what)
        if table is not None:
            group.databases.add(table.group(1).replace("``", "`"))
        if what.startswith("Xid") or not group.trans:
            scan.transactions.append(group.done(event_end))
            scan.safe_end, group = event_end, None
    return scan


def scan_binlog(program: str, path: str, size: int, start: int = 0) -> BinlogScan:
    """Scan the first ``size`` bytes of the binlog file ``path`` from offset ``start`` (>= 4 to skip ahead)."""
    argv = [program, "--base64-output=decode-rows", "--skip-gtid-strict-mode"]
    if start > 4:
        argv.append(f"--start-position={start}")
    argv.append(path)
    try:
        out = subprocess.run(argv, capture_output=True, env={"TZ": "UTC", "LC_ALL": "C"}, timeout=_TIMEOUT,
                             check=False)
    except FileNotFoundError as exc:
        raise MissingTool(f"{program} is not installed", hint="apt-get install mariadb-client") from exc
    except subprocess.TimeoutExpired as exc:
        raise SourceError(f"reading the binlog {path} took longer than {_TIMEOUT} s") from exc
    # A torn last event makes the program fail after printing every whole one; those are what count.
    text = out.stdout.decode("utf-8", "replace")
    if out.returncode != 0 and "# at" not in text:
        raise SourceError(f"cannot read the binlog {path}: {out.stderr.decode('utf-8', 'replace').strip()}")
    return parse_listing(text.splitlines(), size, start)
