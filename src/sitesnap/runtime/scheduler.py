"""The embedded scheduler: a site's ``[schedule]`` run by APScheduler 3 in one process.

Each enabled job of ``[schedule]`` (``incremental``, ``full``, ``prune``,
``check``, ``drill``) gets a cron trigger in the site's time zone.  When it
fires, the scheduler *dispatches* it: embedded, it calls :func:`run_job`
in a worker thread; with ``[runtime] broker`` set it only enqueues the job
for Celery workers (:mod:`sitesnap.runtime.celery_app`).

Guarantees:

* **One scheduler per site**: an exclusive file lock in the state directory,
  held for the process lifetime, and the catalog lease ``scheduler:<site>``
  (renewed every few seconds), so a second scheduler of the same site — on
  this machine, from another state directory, or on another host sharing the
  catalog — raises :class:`AlreadyRunning`.  Neither outlives its process
  for long: the file lock dies with it, the lease is taken over at once on
  the same host and after it expires elsewhere.
* **A reachable broker**: with ``[runtime] broker`` set, a scheduler that
  cannot reach it refuses to start (:class:`BrokerError`), as a worker does.
* **Alerts on a clock**: the site's alerts are evaluated every
  ``alert_interval`` seconds (:class:`AlertTimer`), so the RPO alert fires
  although no run is recorded.
* **No overlap**: ``max_instances=1`` per job, and the run lock of
  :func:`run_job` per repository across jobs and processes.
* **Misfires**: a fire up to ``grace`` late still runs; several missed fires
  run once (``coalesce``).
* **Restarts**: next fire times come from the cron expressions; the last fire
  of each job is kept in ``schedule-<site>.json`` in the state directory, and
  a fire missed while the scheduler was down runs once on start when it is
  at most ``grace`` old.
* **Continuous capture**: when a source has ``continuous = true``, its
  log is captured on a background thread (:class:`CaptureThread`) while the
  scheduler runs, paused (after a last shipment) while a job that needs the
  repository's exclusive lock (forget, prune) runs here, and flushed once
  more at shutdown.
* Realtime triggers (:mod:`sitesnap.runtime.realtime`) are polled every few
  seconds; abandoned runs are reaped every minute.
* **CLI hand-off**: run embedded, it also listens on
  ``scheduler-<site>.sock`` beside its lock and runs the backups that
  ``sitesnap backup`` hands it (:mod:`sitesnap.runtime.handoff`), recorded as
  ``triggered_by="cli"`` with this process's pid.

The trigger computation (:func:`build_triggers`, :func:`fire_times`,
:func:`missed_jobs`) is pure and takes explicit times, so it can be driven by
a fake clock.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from sitesnap.catalog import Catalog
from sitesnap.config import Schedule, SiteConfig
from sitesnap.engine.continuous_thread import CaptureThread
from sitesnap.errors import AlreadyRunning, SitesnapError, UsageError
from sitesnap.runtime.alerts.timer import ALERT_INTERVAL, AlertTimer
from sitesnap.runtime.capture import capture_reporter
from sitesnap.runtime.firelog import FireLog
from sitesnap.runtime.handoff import HandoffServer, Refused, Reply, file_digest, socket_path
from sitesnap.runtime.jobs import FileLock, LockBusy, job_kinds, reap_stale_runs, run_job
from sitesnap.runtime.jobs.filelock import describe_holder
from sitesnap.runtime.jobs.kinds import open_site_repository, repository_password
from sitesnap.runtime.jobs.registry import scheduled_targets
from sitesnap.runtime.lease import CatalogLease, describe_lease

__all__ = [
    "DEFAULT_GRACE",
    "Dispatch",
    "SiteScheduler",
    "build_triggers",
    "fire_times",
    "job_request",
    "missed_jobs",
    "scheduler_lock",
    "site_zone",
]

log = logging.getLogger(__name__)

DEFAULT_GRACE = timedelta(hours=1)
SCHEDULED_LOCK_WAIT = 600.0
# A CLI backup handed over while another operation holds the repository waits
# this long (the CLI run in-process would not wait at all), then is cancelled.
HANDOFF_LOCK_WAIT = 30.0
REALTIME_POLL_SECONDS = 5.0
REAP_SECONDS = 60.0
SCHEDULER_LEASE = timedelta(seconds=90)
LEASE_RENEW_SECONDS = 20.0

# (kind, params) for a job name; ``dispatch(job, kind, params)`` runs or enqueues it.
Dispatch = Callable[[str, str, dict[str, Any]], Any]


def site_zone(cfg: SiteConfig) -> tzinfo:
    """The site's time zone (``[site] timezone``), else this machine's."""
    if cfg.site.timezone:
        return ZoneInfo(cfg.site.timezone)
    local = datetime.now().astimezone().tzinfo
    return local or UTC


# What each [schedule] job runs: its job kind and parameters.
_REQUESTS: Mapping[str, Callable[[Schedule], tuple[str, dict[str, Any]]]] = {
    "incremental": lambda schedule: ("backup", {"type": "incremental"}),
    "full": lambda schedule: ("backup", {"type": "full"}),
    "check": lambda schedule: ("check", {"read_data": True, "subset": schedule.read_data_fraction}),
    "prune": lambda schedule: ("forget", {"prune": True}),
    "drill": lambda schedule: ("drill", {}),
}


def job_request(job: str, schedule: Schedule) -> tuple[str, dict[str, Any]]:
    """The run kind and parameters of a schedule entry."""
    request = _REQUESTS.get(job)
    if request is None:
        raise UsageError(f"unknown scheduled job {job!r}", hint=f"Jobs: {', '.join(_REQUESTS)}.")
    return request(schedule)


def build_triggers(schedule: Schedule, zone: tzinfo) -> dict[str, CronTrigger]:
    """One APScheduler cron trigger per enabled job, with crontab meaning (see config.cron)."""
    return {job: CronTrigger(timezone=zone, **spec.trigger_fields()) for job, spec in schedule.jobs().items()}


def fire_times(triggers: Mapping[str, CronTrigger], start: datetime, end: datetime) -> Iterator[tuple[datetime, str]]:
    """Every fire of every trigger in ``[start, end)``, in time order (ties in trigger order)."""
    order = {job: i for i, job in enumerate(triggers)}
    heap: list[tuple[datetime, int, str]] = []
    for job, trigger in triggers.items():
        first = trigger.get_next_fire_time(None, start)
        if first is not None and first < end:
            heap.append((first, order[job], job))
    heapq.heapify(heap)
    while heap:
        when, rank, job = heapq.heappop(heap)
        yield when, job
        nxt = triggers[job].get_next_fire_time(when, when + timedelta(microseconds=1))
        if nxt is not None and nxt < end:
            heapq.heappush(heap, (nxt, rank, job))


def missed_jobs(triggers: Mapping[str, CronTrigger], last_fired: Mapping[str, datetime], now: datetime,
                grace: timedelta) -> list[str]:
    """Jobs with a fire after their last recorded one, at or before ``now`` and at most ``grace`` old.

    A job never fired before (no entry) has missed nothing: a new
    scheduler does not start with a burst of jobs.
    """
    missed = []
    for job, trigger in triggers.items():
        last = last_fired.get(job)
        if last is None:
            continue
        latest = None
        for when, _ in fire_times({job: trigger}, max(last + timedelta(microseconds=1), now - grace),
                                  now + timedelta(microseconds=1)):
            latest = when
        if latest is not None:
            missed.append(job)
    return missed


def scheduler_lock(cfg: SiteConfig) -> FileLock:
    return FileLock(Path(cfg.runtime.state_dir) / f"scheduler-{cfg.site.name}.lock", site=cfg.site.name)


class SiteScheduler:
    """Runs (or enqueues) a site's scheduled jobs until :meth:`shutdown`.

    ``dispatch`` defaults to running in-process, or enqueueing when the site
    has a broker.  ``config_digest`` is the SHA-256 of the config file as it
    was loaded (see :mod:`.handoff`); without it, the file's digest at
    construction is used.  ``clock`` is for tests.  Not reusable after shutdown.
    """

    def __init__(self, cfg: SiteConfig, catalog: Catalog, *, dispatch: Dispatch | None = None,
                 grace: timedelta = DEFAULT_GRACE, realtime_window: float | None = None,
                 realtime_poll: float = REALTIME_POLL_SECONDS,
                 clock: Callable[[], datetime] | None = None, config_digest: str | None = None,
                 alert_interval: float = ALERT_INTERVAL) -> None:
        self.cfg = cfg
        self.catalog = catalog
        self.grace = grace
        self.realtime_window = realtime_window
        self.realtime_poll = realtime_poll
        self.clock = clock or (lambda: datetime.now(UTC))
        self.dispatch: Dispatch = dispatch or self._default_dispatch()
        self.zone = site_zone(cfg)
        self.fire_log = FireLog(Path(cfg.runtime.state_dir) / f"schedule-{cfg.site.name}.json")
        self._lock = scheduler_lock(cfg)
        self._lease = CatalogLease(catalog, f"scheduler:{cfg.site.name}", SCHEDULER_LEASE)
        self._alerts = AlertTimer(cfg, lambda: catalog, interval=alert_interval)
        self.config_digest = config_digest or (file_digest(cfg.path) if cfg.path is not None else None)
        self._handoff: HandoffServer | None = None
        self._aps: BackgroundScheduler | None = None
        self._stopped = threading.Event()
        self.capture = CaptureThread(cfg, lambda: open_site_repository(cfg.primary),
                                     on_progress=capture_reporter(catalog, cfg.site.name))

    # --- dispatching ------------------------------------------------------------

    def _default_dispatch(self) -> Dispatch:
        if self.cfg.runtime.broker:
            from sitesnap.runtime.celery_app import enqueue_job

            def enqueue(job: str, kind: str, params: dict[str, Any]) -> Any:
                return enqueue_job(self.cfg, kind, params, catalog=self.catalog, triggered_by="scheduler")

            return enqueue

        def run_here(job: str, kind: str, params: dict[str, Any]) -> Any:
            found = job_kinds().get(kind)
            with self.capture.paused() if found is not None and found.exclusive else contextlib.nullcontext():
                return run_job(kind, self.cfg, params, catalog=self.catalog, triggered_by="scheduler",
                               worker="scheduler", lock_wait=SCHEDULED_LOCK_WAIT)

        return run_here

    def jobs(self) -> dict[str, tuple[str, dict[str, Any]]]:
        """The scheduled jobs this installation can run: name → (kind, params)."""
        kinds = job_kinds()
        out: dict[str, tuple[str, dict[str, Any]]] = {}
        for job in self.cfg.schedule.jobs():
            kind, params = job_request(job, self.cfg.schedule)
            if kind in kinds or self.cfg.runtime.broker:
                out[job] = (kind, params)
            else:
                log.warning("schedule: %s needs the %r job kind, which this installation lacks; skipped", job, kind)
        return out

    def fire(self, job: str) -> Any:
        """Run (or enqueue) ``job`` now, once per repository it covers, and remember when.

        Errors are logged, not raised; returns the first run's result.
        """
        kind, params = job_request(job, self.cfg.schedule)
        self.fire_log.mark(job, self.clock())
        results = []
        for target in scheduled_targets(self.cfg, kind, params):
            try:
                results.append(self.dispatch(job, kind, target))
            except Exception:
                log.exception("schedule: %s failed to start", job)
                results.append(None)
        return results[0] if results else None

    def _poll_realtime(self) -> None:
        from sitesnap.runtime.realtime import DEFAULT_WINDOW, claim_due, realtime_params

        window = self.realtime_window if self.realtime_window is not None else DEFAULT_WINDOW
        try:
            claimed = claim_due(self.cfg, window=window, now=self.clock())
            if claimed is not None:
                self.dispatch("realtime", "backup", realtime_params(claimed))
        except Exception:
            log.exception("schedule: realtime backup failed to start")

    def _handoff_backup(self, params: dict[str, Any], reply: Reply) -> dict[str, Any]:
        """Run a backup the CLI handed over (see :mod:`.handoff`); the run is recorded as triggered by the CLI."""
        try:
            repository_password(self.cfg.primary)
        except SitesnapError as exc:
            raise Refused("password", f"the site's scheduler has no repository password ({exc.message})") from None
        run = self.catalog.start_run("backup", site=self.cfg.site.name, repository=self.cfg.primary.name,
                                     triggered_by="cli", status="queued")
        reply.accept(run.id)
        for warning in self.cfg.warnings:
            reply.warning(warning)
        try:
            result = run_job("backup", self.cfg, params, catalog=self.catalog, triggered_by="cli", sink=reply.progress,
                             run_id=run.id, worker="scheduler", lock_wait=HANDOFF_LOCK_WAIT)
        except SitesnapError as exc:  # before the run started (catalog unusable): close it if possible
            with contextlib.suppress(SitesnapError):
                self.catalog.finish_run(run.id, "failed", error=exc)
            return {"run_id": run.id, "kind": "backup", "status": "failed", "result": {}, "error": exc.to_dict()}
        log.info("schedule: CLI backup run %s %s", run.id[:8], result.status)
        return result.to_dict()

    def _start_handoff(self) -> None:
        if self.cfg.runtime.broker or self.config_digest is None:
            return
        server = HandoffServer(socket_path(self.cfg.runtime.state_dir, self.cfg.site.name), self.config_digest,
                               self._handoff_backup)
        if server.start():
            self._handoff = server

    def _reap(self) -> None:
        try:
            reap_stale_runs(self.catalog, site=self.cfg.site.name)
        except Exception:
            log.exception("schedule: could not reap abandoned runs")

    # --- life cycle -------------------------------------------------------------

    def start(self) -> list[str]:
        """Take the site's scheduler lock and lease and start firing; returns the jobs run at once as missed.

        Raises :class:`AlreadyRunning` when another scheduler of the site
        runs, :class:`BrokerError` when the configured broker is unreachable.
        """
        if self.cfg.runtime.broker:
            from sitesnap.runtime.celery_app import check_broker

            check_broker(self.cfg.runtime.broker)
        try:
            self._lock.acquire()
        except LockBusy as busy:
            raise AlreadyRunning(f"a scheduler for site {self.cfg.site.name!r} is running "
                                 f"({describe_holder(busy.holder)})") from None
        try:
            if not self._lease.try_acquire():
                raise AlreadyRunning(f"a scheduler for site {self.cfg.site.name!r} is running "
                                     f"({describe_lease(self._lease.holder_info())}, same catalog)")
            return self._start()
        except BaseException:
            self._lease.release()
            self._lock.release()
            raise

    def _renew(self) -> None:
        try:
            if not self._lease.renew():
                log.error("schedule: lost the scheduler lease of site %s to %s", self.cfg.site.name,
                          describe_lease(self._lease.holder_info()))
        except Exception:
            log.exception("schedule: could not renew the scheduler lease")

    def _start(self) -> list[str]:
        jobs = self.jobs()
        triggers = {job: t for job, t in build_triggers(self.cfg.schedule, self.zone).items() if job in jobs}
        now = self.clock()
        fired = self.fire_log.load()
        missed = missed_jobs(triggers, fired, now, self.grace)
        for job in triggers:
            if job not in fired:
                self.fire_log.mark(job, now)
        aps = BackgroundScheduler(timezone=self.zone, job_defaults={
            "coalesce": True, "max_instances": 1, "misfire_grace_time": int(self.grace.total_seconds())},
            executors={"default": {"type": "threadpool", "max_workers": 4}})
        for job, trigger in triggers.items():
            aps.add_job(self.fire, trigger, args=[job], id=job, name=f"{self.cfg.site.name} {job}",
                        next_run_time=now if job in missed else trigger.get_next_fire_time(None, now))
        aps.add_job(self._poll_realtime, IntervalTrigger(seconds=self.realtime_poll), id="realtime-poll",
                    name="realtime triggers")
        aps.add_job(self._reap, IntervalTrigger(seconds=REAP_SECONDS), id="reap", name="abandoned runs",
                    next_run_time=now)
        aps.add_job(self._renew, IntervalTrigger(seconds=LEASE_RENEW_SECONDS), id="lease", name="scheduler lease")
        aps.start()
        self._aps = aps
        self._alerts.start()
        self._start_handoff()
        self.capture.start()
        for job in missed:
            log.info("schedule: %s was missed while stopped; running it now", job)
        return missed

    def next_fire_times(self) -> dict[str, datetime | None]:
        if self._aps is None:
            return {}
        return {job.id: job.next_run_time for job in self._aps.get_jobs()}

    def wait(self, timeout: float | None = None) -> bool:
        """Block until :meth:`shutdown` (from a signal handler or another thread)."""
        return self._stopped.wait(timeout)

    def shutdown(self, *, wait: bool = True) -> None:
        """Stop firing and taking CLI backups, let running jobs finish (``wait``), release the lock; idempotent.

        The hand-off socket is removed before the lock is released, so it
        never removes the socket of the next scheduler.
        """
        if self._handoff is not None:
            self._handoff.close(wait=False)
        self._alerts.stop(wait=wait)
        self.capture.stop()  # always waits: its last shipment is the final flush
        if self._aps is not None:
            self._aps.shutdown(wait=wait)
            self._aps = None
        if self._handoff is not None and wait:
            self._handoff.close(wait=True)
            self._handoff = None
        self._lease.release()
        self._lock.release()
        self._stopped.set()
