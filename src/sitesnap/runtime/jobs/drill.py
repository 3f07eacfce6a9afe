"""The ``drill`` job kind: restore the newest snapshot into scratch places, verify it, time it.

The drill's verdict is recorded as a DrillResult; the runner then evaluates
the site's alerts like after any run (a failed drill is an integrity alert,
a passing one resolves it).
"""

from __future__ import annotations

from typing import Any

from sitesnap.errors import IntegrityError, PrivilegeError
from sitesnap.runtime.jobs.kinds import JobContext

__all__ = ["drill_job"]


def drill_job(ctx: JobContext) -> dict[str, Any]:
    """Params: ``snapshot`` (ID; default latest), ``keep`` (bool), ``read_data_subset`` ("10%" or a fraction).

    Runs the drill on the run's repository, records a DrillResult, and fails
    the run with :class:`IntegrityError` when the drill failed, or with
    :class:`PrivilegeError` when every failure was a missing database privilege.  Without a
    ``read_data_subset`` parameter no pack read is added (the scheduled
    ``check`` job does that).
    """
    from sitesnap.engine.drill import run_drill
    from sitesnap.repository.check import parse_subset

    subset = ctx.params.get("read_data_subset")
    fraction = parse_subset(subset) if isinstance(subset, str) else (float(subset) if subset else None)
    with ctx.repository() as repo:
        report = run_drill(repo, ctx.cfg, repository=ctx.repo_cfg.name, snapshot=ctx.params.get("snapshot"),
                           keep=bool(ctx.params.get("keep")), read_data_subset=fraction, sink=ctx.sink, log=ctx.log)
    ctx.result.update(report.to_json())
    ctx.catalog.add_drill_result(ctx.cfg.site.name, report.snapshot_id, report.ok, rto_seconds=report.rto_seconds,
                                 checks=[c.to_dict() for c in report.checks], run_id=ctx.run_id)
    ctx.log(f"drill {'passed' if report.ok else 'FAILED'}: RTO {report.rto_seconds:.2f}s")
    if not report.ok:
        failed = [c for c in report.checks if not c.ok]
        if all(c.error == PrivilegeError.code for c in failed):  # the user may not: nothing is damaged
            raise PrivilegeError(f"restore drill of {ctx.cfg.site.name} could not run: {report.message}")
        raise IntegrityError(f"restore drill of {ctx.cfg.site.name} failed: {report.message}")
    return ctx.result
