"""``catalog rebuild``: the backup records of a site, recreated from its repository.

The repository is the source of truth and the catalog a cache of it.  After
a lost or damaged catalog database, :func:`rebuild_catalog` reads every
snapshot of the site and writes its record (the same fields a backup
writes, see :mod:`.records`), and deletes records of that repository whose
snapshot no longer exists.  Records of failed backups (``run-<id>``, no
snapshot) and of other repositories are left alone.  Idempotent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sitesnap.catalog import Catalog
from sitesnap.config import SiteConfig
from sitesnap.runtime.jobs.kinds import open_site_repository
from sitesnap.runtime.jobs.reconcile import is_ours, site_records
from sitesnap.runtime.jobs.records import record_fields

__all__ = ["RebuildReport", "rebuild_catalog"]

@dataclass
class RebuildReport:
    repository: str
    written: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    damaged: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"repository": self.repository, "written": self.written, "removed": self.removed,
                "damaged": self.damaged}


def rebuild_catalog(site_cfg: SiteConfig, catalog: Catalog, *, repository: str | None = None,
                    password: str | None = None, actor: str = "sitesnap") -> RebuildReport:
    """Recreate the site's records from ``repository`` (default: the primary)."""
    repo_cfg = site_cfg.repository(repository) if repository else site_cfg.primary
    site = site_cfg.site.name
    report = RebuildReport(repo_cfg.name)
    with open_site_repository(repo_cfg, password) as repo:
        snaps = repo.load_snapshots(on_error=lambda sid, _exc: report.damaged.append(sid))
    present = set()
    for snap in snaps:
        if snap.site != site:
            continue
        present.add(snap.id)
        catalog.upsert_backup_record(snap.id, **record_fields(snap, repository=repo_cfg.name, location=repo_cfg.url))
        report.written.append(snap.id)
    for rec in site_records(catalog, site):
        if is_ours(rec, repo_cfg.name) and rec.backup_id not in present and rec.backup_id not in report.damaged:
            catalog.delete_backup_record(rec.backup_id)
            report.removed.append(rec.backup_id)
    catalog.add_audit(actor, "catalog.rebuild", site, details={"repository": repo_cfg.name,
                                                              "written": len(report.written),
                                                              "removed": len(report.removed)})
    return report
