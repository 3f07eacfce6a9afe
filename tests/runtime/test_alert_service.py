"""End to end: facts → rules → state → real channels on loopback."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alert_servers import DINGTALK_SECRET, SMTP_PASSWORD, SMTP_USER, Certificate, Receiver, SmtpServer

from sitesnap.runtime.alerts import (
    AlertThresholds,
    BackupRun,
    CaptureState,
    DingTalkChannel,
    EmailChannel,
    IntegrityResult,
    JsonFileStateStore,
    MemoryStateStore,
    NotificationKind,
    RepositoryUsage,
    Route,
    Router,
    RuleId,
    RunStatus,
    Severity,
    SiteFacts,
    SlackChannel,
    StateStore,
    WebhookChannel,
    WeComChannel,
    evaluate_and_notify,
)

T0 = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
CONSOLE = "https://backup.example.test/admin/backups/sites/blog"


def runs(now: datetime, *spec: tuple[RunStatus, float]) -> tuple[BackupRun, ...]:
    """Runs newest first, six hours apart, each (status, minutes)."""
    out = []
    for i, (status, minutes) in enumerate(spec):
        started = now - timedelta(hours=6 * i, minutes=minutes + 1)
        out.append(BackupRun(status, started, started + timedelta(minutes=minutes)))
    return tuple(out)


OK, FAIL = RunStatus.SUCCESS, RunStatus.FAILED


def healthy(now: datetime, site: str = "blog") -> SiteFacts:
    return SiteFacts(
        site=site, now=now,
        runs=runs(now, (OK, 10), (OK, 10), (OK, 11), (OK, 9)),
        last_success=now - timedelta(minutes=1),
        repositories=(RepositoryUsage("main", used_bytes=10, quota_bytes=100),),
        integrity=(IntegrityResult("drill", ok=True, at=now - timedelta(hours=1),
                                   repository="main"),),
        rpo=timedelta(hours=6), console_url=CONSOLE,
    )


BROKEN: dict[RuleId, Callable[[SiteFacts], SiteFacts]] = {
    RuleId.CONSECUTIVE_FAILURES: lambda f: replace(
        f, runs=runs(f.now, (FAIL, 1), (FAIL, 1), (OK, 10), (OK, 10))),
    RuleId.STORAGE_QUOTA: lambda f: replace(
        f, repositories=(RepositoryUsage("main", used_bytes=85, quota_bytes=100),)),
    RuleId.SLOW_BACKUP: lambda f: replace(
        f, runs=runs(f.now, (OK, 45), (OK, 10), (OK, 11), (OK, 9))),
    RuleId.INTEGRITY_FAILURE: lambda f: replace(
        f, integrity=(IntegrityResult("drill", ok=False, at=f.now, repository="main",
                                      message="table posts: 10 rows, expected 12"),)),
    RuleId.RPO_EXCEEDED: lambda f: replace(
        f, runs=(), last_success=f.now - timedelta(hours=7)),
    RuleId.CAPTURE_LAG: lambda f: replace(
        f, captures=(CaptureState("db", last_shipped=f.now - timedelta(minutes=5),
                                  reported=f.now - timedelta(minutes=3)),)),
}


def email(server: SmtpServer, cert: Certificate) -> EmailChannel:
    return EmailChannel("127.0.0.1", "sitesnap@example.test", ["ops@example.test"],
                        port=server.port, username=SMTP_USER, password=SMTP_PASSWORD,
                        ssl_context=cert.client_context(), timeout=5.0)


@pytest.mark.parametrize("rule", list(RuleId), ids=[r.value for r in RuleId])
def test_each_rule_fires_once_and_resolves_once(
    rule: RuleId, receiver: Receiver, smtp_starttls: SmtpServer, certificate: Certificate,
    tmp_path: Path,
) -> None:
    router = Router([Route(WebhookChannel(receiver.url("/hook"))),
                     Route(email(smtp_starttls, certificate))])
    store = JsonFileStateStore(tmp_path / "alerts.json")
    pattern = [False, True, True, True, True, False, False, False]
    kinds: list[list[str]] = []
    for i, broken in enumerate(pattern):
        facts = healthy(T0 + timedelta(minutes=10 * i))
        if broken:
            facts = BROKEN[rule](facts)
        notes = evaluate_and_notify([facts], AlertThresholds(), store, router)
        assert all(n.rule == rule.value for n in notes)
        assert all(d.ok for n in notes for d in n.deliveries), notes
        kinds.append([n.kind.value for n in notes])
    assert kinds == [[], ["firing"], [], [], [], ["resolved"], [], []]

    posted = [r.json() for r in receiver.requests]
    assert [p["kind"] for p in posted] == ["firing", "resolved"]
    fired, resolved = posted
    assert fired["site"] == "blog" and fired["rule"] == rule.value
    assert fired["console_url"] == CONSOLE and fired["values"]
    assert fired["since"] == (T0 + timedelta(minutes=10)).isoformat()
    assert resolved["since"] == fired["since"]
    assert resolved["at"] == (T0 + timedelta(minutes=50)).isoformat()

    subjects = [m.message["Subject"] for m in smtp_starttls.sink.mails]
    assert len(subjects) == 2
    assert subjects[0].startswith("[sitesnap] [FIRING 告警] blog: " + rule.value)
    assert subjects[1].startswith("[sitesnap] [RESOLVED 已恢复] blog: " + rule.value)
    body = smtp_starttls.sink.mails[0].message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert CONSOLE in body and f"Rule 规则: {rule.value}" in body
    for key in fired["values"]:
        assert f"  {key}: " in body


def test_all_channel_formats_in_one_evaluation(receiver: Receiver) -> None:
    router = Router([
        Route(WebhookChannel(receiver.url("/hook"))),
        Route(SlackChannel(receiver.url("/slack"))),
        Route(DingTalkChannel(receiver.url("/dingtalk-signed?access_token=tok"),
                              secret=DINGTALK_SECRET)),
        Route(WeComChannel(receiver.url("/wecom/send?key=k1"))),
    ])
    facts = BROKEN[RuleId.CONSECUTIVE_FAILURES](healthy(T0))
    (n,) = evaluate_and_notify([facts], AlertThresholds(), MemoryStateStore(), router)
    assert [(d.channel, d.ok) for d in n.deliveries] == [
        ("webhook", True), ("slack", True), ("dingtalk", True), ("wecom", True)]
    assert sorted(r.path for r in receiver.requests) == ["/dingtalk-signed", "/hook", "/slack",
                                                         "/wecom/send"]
    for r in receiver.requests:
        text = r.body.decode()
        assert "blog" in text and "consecutive_failures" in text and CONSOLE in text


def test_a_failing_channel_is_recorded_and_others_still_get_it(receiver: Receiver) -> None:
    router = Router([
        Route(WebhookChannel(receiver.url("/status/500"), name="broken")),
        Route(WebhookChannel(receiver.url("/hook"), name="good")),
    ])
    store = MemoryStateStore()
    facts = BROKEN[RuleId.STORAGE_QUOTA](healthy(T0))
    (n,) = evaluate_and_notify([facts], AlertThresholds(), store, router)
    broken, good = n.deliveries
    assert (broken.channel, broken.ok) == ("broken", False) and "HTTP 500" in broken.error
    assert (good.channel, good.ok, good.error) == ("good", True, "")
    # one channel accepted it: it counts as announced and is not repeated
    again = evaluate_and_notify([replace(facts, now=T0 + timedelta(minutes=5))],
                                AlertThresholds(), store, router)
    assert again == []
    assert [r.path for r in receiver.requests].count("/hook") == 1


def test_firing_nobody_received_is_retried(receiver: Receiver, tmp_path: Path) -> None:
    store: StateStore = JsonFileStateStore(tmp_path / "alerts.json")
    down = Router([Route(WebhookChannel(receiver.url("/status/503")))])
    up = Router([Route(WebhookChannel(receiver.url("/hook")))])
    facts = BROKEN[RuleId.INTEGRITY_FAILURE](healthy(T0))
    (n1,) = evaluate_and_notify([facts], AlertThresholds(), store, down)
    assert not n1.deliveries[0].ok
    (n2,) = evaluate_and_notify([replace(facts, now=T0 + timedelta(minutes=5))],
                                AlertThresholds(), store, up)
    assert n2.kind is NotificationKind.FIRING and n2.deliveries[0].ok
    assert n2.since == T0  # the condition started at the first evaluation
    assert evaluate_and_notify([replace(facts, now=T0 + timedelta(minutes=9))],
                               AlertThresholds(), store, up) == []


def test_a_channel_that_crashes_does_not_stop_delivery(receiver: Receiver) -> None:
    class Exploding:
        name = "exploding"

        def send(self, notification: object) -> None:
            raise RuntimeError("bug")

    router = Router([Route(Exploding()), Route(WebhookChannel(receiver.url("/hook")))])
    (n,) = evaluate_and_notify([BROKEN[RuleId.RPO_EXCEEDED](healthy(T0))], AlertThresholds(),
                               MemoryStateStore(), router)
    assert [(d.channel, d.ok, d.error) for d in n.deliveries] == [
        ("exploding", False, "RuntimeError: bug"), ("webhook", True, "")]


def test_per_site_routing_and_states(receiver: Receiver) -> None:
    router = Router([
        Route(WebhookChannel(receiver.url("/blog"), name="blog-team"), sites=("blog",)),
        Route(WebhookChannel(receiver.url("/pager"), name="pager"),
              min_severity=Severity.CRITICAL),
    ])
    store = MemoryStateStore()
    blog = BROKEN[RuleId.STORAGE_QUOTA](healthy(T0))  # warning
    shop = BROKEN[RuleId.RPO_EXCEEDED](healthy(T0, site="shop"))  # critical
    notes = evaluate_and_notify([blog, shop], AlertThresholds(), store, router)
    assert [(n.site, [d.channel for d in n.deliveries]) for n in notes] == [
        ("blog", ["blog-team"]), ("shop", ["pager"])]
    assert set(store.get_states("blog")) == {notes[0].key}
    assert set(store.get_states("shop")) == {notes[1].key}


def test_renotify_after(receiver: Receiver) -> None:
    router = Router([Route(WebhookChannel(receiver.url("/hook")))])
    store = MemoryStateStore()
    kinds = []
    for minutes in (0, 30, 61, 90, 125):
        facts = BROKEN[RuleId.CONSECUTIVE_FAILURES](healthy(T0 + timedelta(minutes=minutes)))
        notes = evaluate_and_notify([facts], AlertThresholds(), store, router,
                                    renotify_after=timedelta(hours=1))
        kinds.append([(n.kind.value, n.repeat) for n in notes])
    assert kinds == [[("firing", False)], [], [("firing", True)], [], [("firing", True)]]
    assert [r.json()["repeat"] for r in receiver.requests] == [False, True, True]
