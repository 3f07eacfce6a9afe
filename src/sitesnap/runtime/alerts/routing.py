"""Alert routing for configured sites: evaluate, de-duplicate through the catalog, send.

::

    run_alerts(catalog, cfgs, now)      -> [Notification]   (evaluate, de-duplicate, send)
    evaluate_site_alerts(catalog, cfg)       -> [Notification]   (the runner, after every recorded run)
    test_channels(cfg, channel)         -> [{channel, ok, error}]

Alert state lives in the catalog (:class:`CatalogStateStore`), so every
process — the CLI, ``serve``, the scheduler, Celery workers — shares one
de-duplication.  Each site's evaluation holds the catalog lease
``alerts:<site>`` from reading the state to storing the new one, so two
processes evaluating at once never both announce the same condition: the
second waits, then finds it already announced.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sitesnap.catalog import Catalog
from sitesnap.config import SiteConfig
from sitesnap.config import alerts as cfg_alerts
from sitesnap.errors import CatalogError, SitesnapError, UsageError
from sitesnap.runtime.alerts.channels import (
    Channel,
    DingTalkChannel,
    EmailChannel,
    Route,
    Router,
    SlackChannel,
    WebhookChannel,
    WeComChannel,
    send_test,
)
from sitesnap.runtime.alerts.rules import AlertKey, AlertThresholds, RuleId, Severity
from sitesnap.runtime.alerts.service import evaluate_and_notify
from sitesnap.runtime.alerts.state import AlertState, Notification
from sitesnap.runtime.facts import Measure, collect_facts, utc
from sitesnap.runtime.lease import CatalogLease, describe_lease
from sitesnap.secrets import resolve

__all__ = [
    "CatalogStateStore",
    "alert_thresholds",
    "build_router",
    "evaluate_site_alerts",
    "run_alerts",
    "test_channels",
]

_log = logging.getLogger(__name__)
# One evaluation (listing the repositories, sending through every channel) fits well within this.
EVALUATION_LEASE = timedelta(minutes=5)
EVALUATION_WAIT = 120.0


class CatalogStateStore:
    """The alert :class:`~sitesnap.runtime.alerts.StateStore` kept in the catalog's ``alert_states``.

    A catalog row is (site, rule) with state ``firing`` or ``resolved``; the
    key's subject (a repository, ``check:<repo>``) is folded into the rule
    column, and the whole :class:`AlertState` is kept in ``details``.
    Forgetting a key marks its row ``resolved`` (history stays).  Thread-safe
    as the catalog is.
    """

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    @staticmethod
    def rule_column(key: AlertKey) -> str:
        text = f"{key.rule}/{key.subject}" if key.subject else key.rule
        if len(text) <= 100:
            return text
        return f"{text[:83]}#{hashlib.sha256(text.encode()).hexdigest()[:16]}"

    def get_states(self, site: str) -> dict[AlertKey, AlertState]:
        states: dict[AlertKey, AlertState] = {}
        for row in self.catalog.list_alert_states(site=site, state="firing"):
            try:
                state = AlertState.from_dict(row.details["alert"])
            except (KeyError, TypeError, ValueError):
                continue  # a row written by something else: not ours to resolve
            states[state.key] = state
        return states

    def set_state(self, key: AlertKey, state: AlertState | None) -> None:
        rule = self.rule_column(key)
        if state is None:
            if self.catalog.get_alert_state(key.site, rule) is not None:
                self.catalog.set_alert_state(key.site, rule, "resolved")
            return
        self.catalog.set_alert_state(key.site, rule, "firing", details={"alert": state.to_dict()},
                                     last_sent=state.last_notified)


def alert_thresholds(cfg: SiteConfig) -> AlertThresholds:
    """The site's ``[alerts]`` limits (``capture_rpo`` included) and ``[site] rpo`` as rule thresholds."""
    a = cfg.alerts
    return AlertThresholds(
        consecutive_failures=a.consecutive_failures, storage_percent=a.storage_percent,
        duration_factor=a.duration_factor, duration_window=a.duration_window,
        duration_min_runs=a.duration_min_runs, rpo=cfg.site.rpo, capture_rpo=a.capture_rpo,
        disabled=frozenset(RuleId(r) for r in a.disabled),
    )


def _secret(value: Any, what: str) -> str | None:
    return None if value is None else resolve(value, what=what)


# One builder per configured channel type: a new channel type is one entry here.
_CHANNELS: dict[type[Any], Callable[[Any, str], Channel]] = {
    cfg_alerts.EmailChannel: lambda spec, where: EmailChannel(
        host=spec.host, sender=spec.sender, recipients=list(spec.to), port=spec.port, username=spec.username,
        password=_secret(spec.password, f"{where}.password"), security=spec.security, name=spec.label),
    cfg_alerts.WebhookChannel: lambda spec, where: WebhookChannel(spec.url, headers=dict(spec.headers),
                                                                  name=spec.label),
    cfg_alerts.SlackChannel: lambda spec, where: SlackChannel(spec.url, name=spec.label),
    cfg_alerts.DingTalkChannel: lambda spec, where: DingTalkChannel(
        spec.url, secret=_secret(spec.secret, f"{where}.secret"), name=spec.label),
    cfg_alerts.WeComChannel: lambda spec, where: WeComChannel(spec.url, name=spec.label),
}


def _channel(spec: Any, where: str) -> Channel:
    build = _CHANNELS.get(type(spec))
    if build is None:
        raise UsageError(f"{where}: unknown channel type {getattr(spec, 'type', '?')!r}")
    return build(spec, where)


def build_router(cfg: SiteConfig, *, only: str | None = None) -> Router:
    """Routes for the site's ``[[alerts.channels]]`` (secrets resolved now); ``only`` picks one by name."""
    routes = []
    for i, spec in enumerate(cfg.alerts.channels):
        if only is not None and spec.label != only:
            continue
        sites = tuple(spec.sites) or None
        routes.append(Route(_channel(spec, f"alerts.channels[{i}]"), sites, Severity(spec.min_severity)))
    if only is not None and not routes:
        known = ", ".join(c.label for c in cfg.alerts.channels) or "none"
        raise UsageError(f"no alert channel named {only!r} (known: {known})")
    return Router(routes)


def run_alerts(catalog: Catalog, site_cfgs: Iterable[SiteConfig], now: datetime | None = None, *,
               measure: Measure | None = None, renotify_after: timedelta | None = None,
               wait: float = EVALUATION_WAIT) -> list[Notification]:
    """Evaluate every site's rules now, send what changed through its channels, remember it.

    Idempotent for unchanged facts: a condition is announced once and
    resolved once, however many processes evaluate at the same time.
    Raises :class:`CatalogError` when another evaluation of a site holds its
    lease for longer than ``wait`` seconds.  Returns the notifications with
    their deliveries.
    """
    sent: list[Notification] = []
    store = CatalogStateStore(catalog)
    for cfg in site_cfgs:
        router = build_router(cfg)
        lease = CatalogLease(catalog, f"alerts:{cfg.site.name}", EVALUATION_LEASE)
        if not lease.acquire(wait=wait):
            raise CatalogError(f"alerts of site {cfg.site.name} are being evaluated by "
                               f"{describe_lease(lease.holder_info())} for more than {wait:.0f}s")
        try:
            at = utc(now or datetime.now(UTC))  # after the wait: facts recorded meanwhile count
            facts = collect_facts(catalog, cfg, at, measure=measure)
            sent += evaluate_and_notify([facts], alert_thresholds(cfg), store, router,
                                        renotify_after=renotify_after)
        finally:
            lease.release()
    return sent


def evaluate_site_alerts(catalog: Catalog, cfg: SiteConfig) -> list[Notification]:
    """Evaluate the site's alerts after a run was recorded; never raises (a run's verdict stands).

    A misconfigured channel or an unreachable catalog is logged; the next
    run or the timer of a long-running process evaluates again.
    """
    try:
        return run_alerts(catalog, [cfg])
    except SitesnapError as exc:
        _log.warning("alerts of site %s not evaluated: %s", cfg.site.name, exc.message)
    except Exception:
        _log.exception("alerts of site %s not evaluated", cfg.site.name)
    return []


def test_channels(cfg: SiteConfig, channel: str | None = None) -> list[dict[str, Any]]:
    """Send the test message through each channel (or the named one): ``[{channel, ok, error}]``."""
    results = []
    for ch in build_router(cfg, only=channel).channels:
        try:
            send_test(ch, site=cfg.site.name, console_url=cfg.site.console_url)
        except SitesnapError as exc:
            results.append({"channel": ch.name, "ok": False, "error": exc.message})
        else:
            results.append({"channel": ch.name, "ok": True, "error": ""})
    return results
