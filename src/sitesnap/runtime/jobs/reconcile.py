"""Keep the catalog's backup records in step with the repository, cheaply, by comparing snapshot IDs.

The repository is the truth and the catalog a cache of it (DESIGN.md §1).
They drift when snapshots are forgotten by a CLI without the catalog,
written from another host, copied in, or lost with a restarted storage.
:func:`reconcile_records` lists the repository's snapshot IDs (one listing,
nothing decrypted), deletes the records of the site's snapshots that are
gone and writes records for the site's snapshots the catalog lacks (only
those are read).  It runs after every recorded run that opened the site's
primary repository and on every ``snapshots`` listing with a site config.
Records of failed backups (``run-<id>``) and of other repositories are left
alone; :mod:`.rebuild` is the full rewrite of every record.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sitesnap.catalog import Catalog
from sitesnap.config import RepositoryConfig, SiteConfig
from sitesnap.repository.repository import Repository
from sitesnap.runtime.jobs.records import record_fields

__all__ = ["SNAPSHOT_ID", "Reconciled", "is_ours", "reconcile_records", "site_records"]

SNAPSHOT_ID = re.compile(r"[0-9a-f]{64}")


@dataclass
class Reconciled:
    """What :func:`reconcile_records` changed in the catalog."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed)


def site_records(catalog: Catalog, site: str) -> list[Any]:
    """Every backup record of ``site``, oldest first."""
    out: list[Any] = []
    page = 1
    while True:
        batch = catalog.list_backup_records(site=site, page=page, per_page=500, sort="created_at")
        out += batch.items
        if page >= batch.pages:
            return out
        page += 1


def is_ours(record: Any, repository: str) -> bool:
    """True when ``record`` is a snapshot's record that ``repository`` answers for."""
    providers = record.storage_providers
    return bool(SNAPSHOT_ID.fullmatch(record.backup_id)) and (repository in providers or not providers)


def reconcile_records(catalog: Catalog, cfg: SiteConfig, repo_cfg: RepositoryConfig,
                      repo: Repository) -> Reconciled:
    """Make the site's records of ``repo_cfg`` name exactly the site's snapshots in ``repo``; idempotent.

    A snapshot that cannot be read gets no record (``check`` reports it);
    on a write-only host, which cannot read snapshots, nothing changes.
    """
    done = Reconciled()
    if repo.write_only is not None:
        return done
    site = cfg.site.name
    present = set(repo.snapshot_ids())
    records = site_records(catalog, site)
    for rec in records:
        if is_ours(rec, repo_cfg.name) and rec.backup_id not in present:
            catalog.delete_backup_record(rec.backup_id)
            done.removed.append(rec.backup_id)
    known = {rec.backup_id for rec in records}
    for sid in sorted(present - known):
        try:
            snap = repo.load_snapshot(sid)
        except Exception:
            continue
        if snap.site == site:
            catalog.upsert_backup_record(snap.id, **record_fields(snap, repository=repo_cfg.name,
                                                                  location=repo_cfg.url))
            done.added.append(snap.id)
    return done
