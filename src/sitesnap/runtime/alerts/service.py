"""Evaluate the rules for many sites, de-duplicate, and deliver.

:func:`evaluate_and_notify` is what the scheduler runs after each backup,
check or drill and on a timer.  Per site it evaluates the rules, compares
with the stored state, sends each resulting notification to the channels the
router picks, and stores the new state.  A channel that fails is recorded in
the notification's ``deliveries`` and logged; the other channels still get the
message.  A ``firing`` notification that no routed channel accepted is kept
as "not yet notified" and retried on the next evaluation.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import timedelta

from sitesnap.errors import SitesnapError
from sitesnap.runtime.alerts.channels import Router
from sitesnap.runtime.alerts.rules import AlertKey, AlertThresholds, SiteFacts, evaluate
from sitesnap.runtime.alerts.state import (
    AlertState,
    Delivery,
    Notification,
    NotificationKind,
    StateStore,
    transition,
)

__all__ = ["deliver", "evaluate_and_notify"]

_log = logging.getLogger(__name__)


def deliver(notification: Notification, router: Router) -> Notification:
    """Send to every routed channel; return the notification with its ``deliveries``.

    Never raises for a channel failure: any exception from a channel (a
    NotificationError, or a bug) becomes a failed :class:`Delivery`.
    """
    results: list[Delivery] = []
    for channel in router.channels_for(notification):
        try:
            channel.send(notification)
        except SitesnapError as exc:
            results.append(Delivery(channel.name, False, exc.message))
        except Exception as exc:  # one broken channel must not silence the others
            results.append(Delivery(channel.name, False, f"{type(exc).__name__}: {exc}"))
        else:
            results.append(Delivery(channel.name, True))
            continue
        _log.warning("alert %s for %s not sent via %s: %s", notification.rule,
                     notification.site, channel.name, results[-1].error)
    return replace(notification, deliveries=tuple(results))


def evaluate_and_notify(
    facts_list: Iterable[SiteFacts],
    thresholds: AlertThresholds,
    store: StateStore,
    router: Router,
    *,
    renotify_after: timedelta | None = None,
) -> list[Notification]:
    """Run the rules for each site, send what changed, store the new state.

    Returns every notification produced, each with its deliveries.  Calling
    it again with unchanged facts sends nothing (unless ``renotify_after``
    has passed).  Raises only if the store fails.
    """
    sent: list[Notification] = []
    for facts in facts_list:
        previous = store.get_states(facts.site)
        change = transition(previous, evaluate(facts, thresholds), facts.now,
                            renotify_after=renotify_after)
        notes = [deliver(n, router) for n in change.notifications]
        undelivered = {n.key for n in notes if n.kind is NotificationKind.FIRING and _failed(n)}
        for key, state in change.updates.items():
            store.set_state(key, _unsent(key, state, previous) if key in undelivered else state)
        sent.extend(notes)
    return sent


def _failed(n: Notification) -> bool:
    """True when channels were tried and none accepted the notification."""
    return bool(n.deliveries) and not any(d.ok for d in n.deliveries)


def _unsent(key: AlertKey, state: AlertState | None,
            previous: Mapping[AlertKey, AlertState]) -> AlertState | None:
    """Roll ``last_notified`` back so the next evaluation tries again."""
    if state is None:
        return None
    old = previous.get(key)
    return replace(state, last_notified=old.last_notified if old is not None else None)
