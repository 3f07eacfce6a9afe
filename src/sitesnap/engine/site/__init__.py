"""Site use cases: back up every source of a site into one snapshot; plan and run restores.

Snapshot tree of a site (docs/format/v1.md §8); each source kind says where
it lives (:meth:`~sitesnap.sources.kind.SourceKind.tree_path`)::

    files/<source>/...        file sources
    db/<source>.sqlite        SQLite databases (a consistent copy of the file)
    db/<source>.pg.sql        PostgreSQL (pg_dump plain SQL)
    db/<source>.mysql.sql     MySQL / MariaDB (mariadb-dump)

The work is split by verb: :mod:`.backup` captures, :mod:`.selection`
chooses a snapshot, :mod:`.restore` plans and runs restores (directory trees
through :mod:`.filetree`).  Restores are ``plan_site_restore()`` then
``RestorePlan.execute()``: the CLI's ``--dry-run`` and the console's preview
show the same plan that runs.  Sources are opened through
:func:`sitesnap.sources.registry.open_source`; nothing here depends on a
source's type.
"""

from __future__ import annotations

from sitesnap.engine.site.attime import PointInTime
from sitesnap.engine.site.backup import SiteBackupResult, backup_site
from sitesnap.engine.site.restore import RestoreItem, RestorePlan, plan_restore, plan_site_restore, plan_site_restore_at
from sitesnap.engine.site.selection import parse_point, parse_when, select_snapshot

__all__ = [
    "PointInTime",
    "RestoreItem",
    "RestorePlan",
    "SiteBackupResult",
    "backup_site",
    "parse_point",
    "parse_when",
    "plan_restore",
    "plan_site_restore",
    "plan_site_restore_at",
    "select_snapshot",
]
