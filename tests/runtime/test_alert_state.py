"""De-duplication and resolution of alerts, and the state stores."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sitesnap.errors import ConfigError
from sitesnap.runtime.alerts.rules import Alert, AlertKey, RuleId, Severity
from sitesnap.runtime.alerts.state import (
    AlertState,
    JsonFileStateStore,
    MemoryStateStore,
    NotificationKind,
    StateStore,
    transition,
)

T0 = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
FIRING, RESOLVED = NotificationKind.FIRING, NotificationKind.RESOLVED


def alert(rule: RuleId = RuleId.STORAGE_QUOTA, subject: str = "main", percent: float = 90.0,
          site: str = "blog") -> Alert:
    return Alert(site=site, rule=rule, severity=Severity.WARNING,
                 summary=f"repository {subject} uses {percent}%", values={"percent": percent},
                 subject=subject, console_url="https://c/blog")


class Sim:
    """Drives :func:`transition` over time with an in-memory state dict."""

    def __init__(self, renotify: timedelta | None = None) -> None:
        self.state: dict[AlertKey, AlertState] = {}
        self.renotify = renotify

    def step(self, minutes: float, *alerts: Alert) -> list[tuple[str, str]]:
        now = T0 + timedelta(minutes=minutes)
        t = transition(self.state, alerts, now, renotify_after=self.renotify)
        for key, st in t.updates.items():
            if st is None:
                self.state.pop(key)
            else:
                self.state[key] = st
        return [(n.kind.value + ("+repeat" if n.repeat else ""), str(n.key))
                for n in t.notifications]


def test_fires_once_stays_quiet_then_resolves_once() -> None:
    sim = Sim()
    assert sim.step(0) == []
    assert sim.step(1, alert()) == [("firing", "blog/storage_quota/main")]
    for m in range(2, 20):
        assert sim.step(m, alert(percent=90 + m / 10)) == []  # values change, no new message
    assert sim.state[alert().key].summary == "repository main uses 91.9%"
    assert sim.state[alert().key].firing_since == T0 + timedelta(minutes=1)
    assert sim.step(20) == [("resolved", "blog/storage_quota/main")]
    assert sim.step(21) == []
    assert sim.state == {}
    assert sim.step(22, alert()) == [("firing", "blog/storage_quota/main")]  # comes back


def test_resolved_message_says_what_cleared() -> None:
    prev = transition({}, [alert(percent=93.0)], T0).updates
    state = {k: v for k, v in prev.items() if v is not None}
    (n,) = transition(state, [], T0 + timedelta(hours=2)).notifications
    assert n.kind is RESOLVED and n.summary == "resolved: repository main uses 93.0%"
    assert n.since == T0 and n.at == T0 + timedelta(hours=2)
    assert n.values == {"percent": 93.0} and n.console_url == "https://c/blog"
    assert n.severity is Severity.WARNING and n.rule == "storage_quota" and n.subject == "main"


def test_independent_keys() -> None:
    sim = Sim()
    a, b = alert(subject="a"), alert(subject="b")
    c = alert(rule=RuleId.RPO_EXCEEDED, subject="")
    assert sim.step(0, a, b) == [("firing", "blog/storage_quota/a"),
                                 ("firing", "blog/storage_quota/b")]
    assert sim.step(1, b, c) == [("firing", "blog/rpo_exceeded"),
                                 ("resolved", "blog/storage_quota/a")]
    assert sim.step(2, b, c) == []


def test_renotify_interval() -> None:
    sim = Sim(renotify=timedelta(minutes=60))
    assert sim.step(0, alert()) == [("firing", "blog/storage_quota/main")]
    assert sim.step(59, alert()) == []
    assert sim.step(60, alert()) == [("firing+repeat", "blog/storage_quota/main")]
    assert sim.step(61, alert()) == []
    assert sim.step(120, alert()) == [("firing+repeat", "blog/storage_quota/main")]
    assert sim.state[alert().key].firing_since == T0  # reminders keep the start time
    assert sim.step(121) == [("resolved", "blog/storage_quota/main")]


def test_unannounced_state_is_retried_and_never_resolved() -> None:
    st = AlertState(alert().key, firing_since=T0, last_notified=None, severity=Severity.WARNING,
                    summary="s")
    again = transition({st.key: st}, [alert()], T0 + timedelta(minutes=5))
    (n,) = again.notifications
    assert n.kind is FIRING and not n.repeat and n.since == T0
    assert again.updates[st.key].last_notified == T0 + timedelta(minutes=5)  # type: ignore[union-attr]
    gone = transition({st.key: st}, [], T0 + timedelta(minutes=5))
    assert gone.notifications == [] and gone.updates == {st.key: None}


def test_unchanged_state_is_not_rewritten() -> None:
    first = transition({}, [alert()], T0)
    state = {k: v for k, v in first.updates.items() if v is not None}
    assert transition(state, [alert()], T0 + timedelta(minutes=1)).updates == {}


# -- stores ----------------------------------------------------------------------


def memory(tmp_path: Path) -> StateStore:
    return MemoryStateStore()


def json_file(tmp_path: Path) -> StateStore:
    return JsonFileStateStore(tmp_path / "state" / "alerts.json")


@pytest.mark.parametrize("make", [memory, json_file])
def test_store_round_trip(make: Callable[[Path], StateStore], tmp_path: Path) -> None:
    store = make(tmp_path)
    st = AlertState(AlertKey("blog", "storage_quota", "main"), firing_since=T0,
                    last_notified=T0 + timedelta(seconds=1), severity=Severity.WARNING,
                    summary="repository main uses 90%", values={"percent": 90.0, "basis": "quota"},
                    console_url="https://c/blog")
    other = AlertState(AlertKey("shop", "rpo_exceeded"), firing_since=T0, last_notified=None,
                       severity=Severity.CRITICAL, summary="old")
    store.set_state(st.key, st)
    store.set_state(other.key, other)
    assert store.get_states("blog") == {st.key: st}
    assert store.get_states("shop") == {other.key: other}
    assert store.get_states("nobody") == {}
    store.set_state(st.key, None)
    store.set_state(st.key, None)  # forgetting twice is fine
    assert store.get_states("blog") == {}
    assert store.get_states("shop") == {other.key: other}


def test_json_store_survives_a_new_instance_and_reports_damage(tmp_path: Path) -> None:
    path = tmp_path / "alerts.json"
    st = AlertState(AlertKey("blog", "slow_backup"), T0, T0, Severity.WARNING, "slow")
    JsonFileStateStore(path).set_state(st.key, st)
    assert json.loads(path.read_text())["version"] == 1
    assert JsonFileStateStore(path).get_states("blog") == {st.key: st}
    assert [p.name for p in tmp_path.iterdir()] == ["alerts.json"]  # no temp files left
    path.write_text("{not json")
    with pytest.raises(ConfigError, match=r"alert state file .* is unreadable"):
        JsonFileStateStore(path).get_states("blog")
