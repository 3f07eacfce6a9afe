"""What ``check`` and ``prune`` need to know about log segments.

Hook points (one line each in the callers):

- ``check_repository`` (repository/check.py), after the index is loaded:
  ``errors, warnings = check_log_segments(repo)`` appended to the report.
  ``--read-data`` needs nothing more: segment payloads are ordinary data
  blobs in indexed packs, which it already reads and verifies.
- ``plan_prune`` (repository/prune.py), after ``used`` is computed:
  ``used |= log_segment_blobs(repo)``, or prune would delete the payload
  of every segment (no snapshot references it).
- ``copy`` (engine/copy.py) has no segment support yet: a copied
  repository holds snapshots only.
"""

from __future__ import annotations

from sitesnap.errors import IntegrityError
from sitesnap.format.blob import DATA
from sitesnap.repository.logstream import load_segments, segment_blobs
from sitesnap.repository.logtimeline import build_timelines
from sitesnap.repository.repository import Repository

__all__ = ["check_log_segments", "log_segment_blobs"]


def check_log_segments(repo: Repository) -> tuple[list[str], list[str]]:
    """(errors, warnings) about the log stream.  The index must be loaded.

    Errors: a segment that cannot be read or authenticated, a blob a segment
    names that no index holds.  Warnings: a chain that breaks (the times
    after the break are not restorable), a generation without its base.
    """
    errors: list[str] = []
    warnings: list[str] = []
    segments = load_segments(repo, errors=errors)
    for seg in segments:
        missing = [b for b in seg.blobs if not repo.has_blob(DATA, b)]
        if missing:
            errors.append(f"log segment {seg.id}: {len(missing)} blob(s) not in the index, "
                          f"first {missing[0].hex()}")
    for source, timeline in build_timelines(segments).items():
        for gen in timeline.generations:
            if gen.broken:
                warnings.append(f"log of {source}, generation {gen.generation.hex()[:8]}: {gen.broken}")
        for orphan in timeline.orphans:
            warnings.append(f"log of {source}, generation {orphan[:8]}: no base segment (not restorable)")
    return errors, warnings


def log_segment_blobs(repo: Repository) -> set[tuple[int, bytes]]:
    """Every blob a log segment uses, for ``prune``; IntegrityError if a segment cannot be read.

    A damaged segment stops the prune rather than letting it delete blobs
    the segment might still name.
    """
    errors: list[str] = []
    segments = load_segments(repo, errors=errors)
    if errors:
        raise IntegrityError(f"cannot prune: {errors[0]}",
                             hint="Run 'sitesnap check' and remove or repair the damaged log segment.")
    return segment_blobs(segments)
