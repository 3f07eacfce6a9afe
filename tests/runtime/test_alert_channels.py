"""Alert channels against real servers on loopback: SMTP (aiosmtpd) and HTTP."""

from __future__ import annotations

import smtplib
import ssl
import time
from datetime import UTC, datetime

import pytest
from alert_servers import (
    DINGTALK_SECRET,
    SMTP_PASSWORD,
    SMTP_USER,
    Certificate,
    Receiver,
    SmtpServer,
    dingtalk_verify,
)

from sitesnap.errors import ConfigError, NotificationError
from sitesnap.runtime.alerts.channels import (
    DingTalkChannel,
    EmailChannel,
    Route,
    Router,
    SlackChannel,
    WebhookChannel,
    WeComChannel,
    dingtalk_sign,
    dingtalk_signed_url,
    send_test,
)
from sitesnap.runtime.alerts.rules import Severity
from sitesnap.runtime.alerts.state import Notification, NotificationKind

AT = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
CONSOLE = "https://backup.example.test/admin/backups/sites/blog"


def note(kind: NotificationKind = NotificationKind.FIRING, site: str = "blog",
         severity: Severity = Severity.CRITICAL) -> Notification:
    return Notification(
        kind=kind, site=site, rule="consecutive_failures", severity=severity,
        summary=f"2 consecutive backups of {site} failed", at=AT, since=AT,
        values={"failures": 2, "threshold": 2}, console_url=CONSOLE,
    )


# -- email -------------------------------------------------------------------------


def email(server: SmtpServer, cert: Certificate, **kw: object) -> EmailChannel:
    args: dict[str, object] = {
        "host": "127.0.0.1", "port": server.port, "sender": "sitesnap@example.test",
        "recipients": ["ops@example.test", "dba@example.test"], "username": SMTP_USER,
        "password": SMTP_PASSWORD, "ssl_context": cert.client_context(), "timeout": 5.0,
    }
    args.update(kw)
    return EmailChannel(**args)  # type: ignore[arg-type]


def test_email_starttls_with_auth_delivers_text_and_html(
    smtp_starttls: SmtpServer, certificate: Certificate
) -> None:
    email(smtp_starttls, certificate).send(note())
    (mail,) = smtp_starttls.sink.mails
    assert mail.tls and mail.login == SMTP_USER.encode()
    assert mail.mail_from == "sitesnap@example.test"
    assert mail.rcpt_tos == ["ops@example.test", "dba@example.test"]
    msg = mail.message
    assert msg["Subject"] == "[sitesnap] [FIRING 告警] blog: consecutive_failures"
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    for body in (text, html):
        assert "2 consecutive backups of blog failed" in body
        assert "consecutive_failures" in body and "blog" in body
        assert CONSOLE in body
    assert "failures: 2" in text and "threshold: 2" in text
    assert f'<a href="{CONSOLE}">' in html


def test_email_wrong_password_is_a_clear_error(
    smtp_starttls: SmtpServer, certificate: Certificate
) -> None:
    with pytest.raises(NotificationError) as info:
        email(smtp_starttls, certificate, password="wrong").send(note())
    assert "rejected the login (535)" in info.value.message
    assert "wrong" not in info.value.message and SMTP_PASSWORD not in info.value.message
    assert smtp_starttls.sink.mails == []


def test_email_untrusted_certificate_is_refused(
    smtp_starttls: SmtpServer, certificate: Certificate
) -> None:
    with pytest.raises(NotificationError, match=r"TLS with 127\.0\.0\.1"):
        email(smtp_starttls, certificate, ssl_context=ssl.create_default_context()).send(note())
    assert smtp_starttls.sink.mails == []


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # it is TLS
def test_email_implicit_ssl(smtp_ssl: SmtpServer, certificate: Certificate) -> None:
    email(smtp_ssl, certificate, security="ssl").send(note(NotificationKind.RESOLVED))
    (mail,) = smtp_ssl.sink.mails
    assert mail.tls and mail.message["Subject"].startswith("[sitesnap] [RESOLVED 已恢复] blog")


def test_email_starttls_required_but_not_offered(smtp_plain: SmtpServer) -> None:
    channel = EmailChannel("127.0.0.1", "a@example.test", ["b@example.test"],
                           port=smtp_plain.port, timeout=5.0)
    with pytest.raises(NotificationError, match="STARTTLS"):
        channel.send(note())
    plain = EmailChannel("127.0.0.1", "a@example.test", ["b@example.test"],
                         port=smtp_plain.port, security="none", timeout=5.0)
    plain.send(note())
    assert len(smtp_plain.sink.mails) == 1 and not smtp_plain.sink.mails[0].tls


def test_email_refuses_plaintext_password_and_bad_settings() -> None:
    with pytest.raises(ConfigError, match="unencrypted"):
        EmailChannel("h", "a@x", ["b@x"], username="u", password="p", security="none")
    with pytest.raises(ConfigError, match="no recipients"):
        EmailChannel("h", "a@x", [])
    with pytest.raises(ConfigError, match="starttls, ssl or none"):
        EmailChannel("h", "a@x", ["b@x"], security="tls")  # type: ignore[arg-type]


def test_email_timeout_and_refused_connection(silent_port: int) -> None:
    channel = EmailChannel("127.0.0.1", "a@x", ["b@x"], port=silent_port, timeout=0.5)
    start = time.monotonic()
    with pytest.raises(NotificationError, match=f"127.0.0.1:{silent_port}"):
        channel.send(note())
    assert time.monotonic() - start < 5
    from alert_servers import free_port

    closed = EmailChannel("127.0.0.1", "a@x", ["b@x"], port=free_port(), timeout=2)
    with pytest.raises(NotificationError, match="cannot send through"):
        closed.send(note())


# -- webhooks ------------------------------------------------------------------------


def test_generic_webhook_posts_the_notification_json(receiver: Receiver) -> None:
    WebhookChannel(receiver.url("/hook"), headers={"Authorization": "Bearer t"}).send(note())
    (req,) = receiver.requests
    assert req.headers["Content-Type"] == "application/json; charset=utf-8"
    assert req.headers["Authorization"] == "Bearer t"
    assert req.json() == {
        "kind": "firing", "site": "blog", "rule": "consecutive_failures", "subject": "",
        "severity": "critical", "summary": "2 consecutive backups of blog failed",
        "values": {"failures": 2, "threshold": 2}, "at": AT.isoformat(),
        "since": AT.isoformat(), "repeat": False, "console_url": CONSOLE,
    }


def test_webhook_http_error_names_status_but_not_the_secret_path(receiver: Receiver) -> None:
    url = receiver.url("/status/503") + "?token=very-secret"
    with pytest.raises(NotificationError) as info:
        WebhookChannel(url).send(note())
    assert "HTTP 503" in info.value.message
    assert "very-secret" not in info.value.message and "/status" not in info.value.message


def test_webhook_timeout(silent_port: int) -> None:
    start = time.monotonic()
    with pytest.raises(NotificationError, match=r"did not answer within 0\.5s"):
        WebhookChannel(f"http://127.0.0.1:{silent_port}/x", timeout=0.5).send(note())
    assert time.monotonic() - start < 5


def test_webhook_rejects_non_http_urls() -> None:
    with pytest.raises(ConfigError, match="not an http"):
        WebhookChannel("file:///etc/passwd").send(note())


def test_slack_incoming_webhook_format(receiver: Receiver) -> None:
    SlackChannel(receiver.url("/services/T/B/X")).send(note())
    payload = receiver.requests[0].json()
    assert payload["text"].startswith("[FIRING 告警] blog: consecutive_failures")
    section = payload["blocks"][0]
    assert section["type"] == "section" and section["text"]["type"] == "mrkdwn"
    assert f"<{CONSOLE}|" in section["text"]["text"]
    assert "failures: `2`" in section["text"]["text"]


def test_dingtalk_signature_matches_the_documented_algorithm() -> None:
    # known answer, computed with: printf '1577262236757\nthis is secret' |
    #   openssl dgst -sha256 -hmac 'this is secret' -binary | base64
    ts = 1577262236757
    assert dingtalk_sign("this is secret", ts) == "hmPWwU+7lVdm3ZZz0r9tSfx0L4Q26jWOZr9+Gs6EZQM="
    sign = dingtalk_sign(DINGTALK_SECRET, ts)
    url = dingtalk_signed_url("https://oapi.dingtalk.com/robot/send?access_token=x",
                              DINGTALK_SECRET, ts)
    from urllib.parse import parse_qs, urlsplit

    query = parse_qs(urlsplit(url).query)
    assert query == {"access_token": ["x"], "timestamp": [str(ts)], "sign": [sign]}
    assert url.endswith(f"&timestamp={ts}&sign=" + sign.replace("+", "%2B").replace(
        "/", "%2F").replace("=", "%3D"))
    assert dingtalk_signed_url("https://h/robot", "s", 1).startswith("https://h/robot?timestamp=1&")


def test_dingtalk_signed_markdown_is_accepted(receiver: Receiver) -> None:
    DingTalkChannel(receiver.url("/dingtalk-signed?access_token=tok"),
                    secret=DINGTALK_SECRET).send(note())
    (req,) = receiver.requests
    assert dingtalk_verify(req.query["timestamp"][0], req.query["sign"][0], DINGTALK_SECRET)
    payload = req.json()
    assert payload["msgtype"] == "markdown"
    assert payload["markdown"]["title"] == "[FIRING 告警] blog: consecutive_failures"
    text = payload["markdown"]["text"]
    assert "2 consecutive backups of blog failed" in text and f"]({CONSOLE})" in text
    assert "`failures`: 2" in text


def test_dingtalk_wrong_secret_or_missing_signature_is_an_error(receiver: Receiver) -> None:
    with pytest.raises(NotificationError, match=r"errcode 310000\): sign not match"):
        DingTalkChannel(receiver.url("/dingtalk?access_token=tok"), secret="SECwrong").send(note())
    with pytest.raises(NotificationError, match="310000"):
        DingTalkChannel(receiver.url("/dingtalk-signed?access_token=tok")).send(note())
    DingTalkChannel(receiver.url("/dingtalk?access_token=tok")).send(note())  # unsigned robot
    assert len(receiver.requests) == 3


def test_wecom_markdown(receiver: Receiver) -> None:
    WeComChannel(receiver.url("/wecom/send?key=k1")).send(note(NotificationKind.RESOLVED))
    payload = receiver.requests[0].json()
    assert payload["msgtype"] == "markdown"
    content = payload["markdown"]["content"]
    assert content.startswith("### [RESOLVED 已恢复] blog: consecutive_failures")
    assert CONSOLE in content and "**Site 站点**: blog" in content
    with pytest.raises(NotificationError, match="93000"):
        WeComChannel(receiver.url("/wecom/send?key=bad")).send(note())


def test_wecom_cuts_long_content_to_4096_bytes(receiver: Receiver) -> None:
    n = note()
    long = Notification(**{**n.__dict__, "summary": "备份失败" * 2000})
    WeComChannel(receiver.url("/wecom/send?key=k1")).send(long)
    content = receiver.requests[0].json()["markdown"]["content"]
    assert len(content.encode()) <= 4096 and content.startswith("### ")


def test_robot_garbage_answer_is_an_error(receiver: Receiver) -> None:
    with pytest.raises(NotificationError, match="unexpected answer"):
        WeComChannel(receiver.url("/other")).send(note())  # answers "ok", not JSON


# -- routing and test messages -----------------------------------------------------


def test_router_by_site_and_severity(receiver: Receiver) -> None:
    everything = WebhookChannel(receiver.url("/all"), name="all")
    shop = WebhookChannel(receiver.url("/shop"), name="shop")
    pager = WebhookChannel(receiver.url("/pager"), name="pager")
    router = Router([
        Route(everything),
        Route(shop, sites=("shop-*",)),
        Route(pager, min_severity=Severity.CRITICAL),
        Route(everything, sites=("blog",)),  # reached twice, used once
    ])

    def names(n: Notification) -> list[str]:
        return [c.name for c in router.channels_for(n)]

    assert names(note(site="blog", severity=Severity.WARNING)) == ["all"]
    assert names(note(site="blog")) == ["all", "pager"]
    assert names(note(site="shop-eu", severity=Severity.INFO)) == ["all", "shop"]
    assert [c.name for c in router.channels] == ["all", "shop", "pager"]


def test_send_test_reaches_the_channel(receiver: Receiver) -> None:
    channel = WebhookChannel(receiver.url("/hook"), name="ops-hook")
    sent = send_test(channel, site="blog", console_url=CONSOLE, now=AT)
    payload = receiver.requests[0].json()
    assert payload["kind"] == "test" and payload["site"] == "blog"
    assert payload["values"] == {"channel": "ops-hook"} and payload["console_url"] == CONSOLE
    assert sent.kind is NotificationKind.TEST
    with pytest.raises(NotificationError):
        send_test(WebhookChannel(receiver.url("/status/500")))


def test_send_test_over_email(smtp_starttls: SmtpServer, certificate: Certificate) -> None:
    send_test(email(smtp_starttls, certificate))
    (mail,) = smtp_starttls.sink.mails
    assert mail.message["Subject"] == "[sitesnap] [TEST 测试] sitesnap: test"


def test_smtplib_is_really_talking_to_a_server(smtp_starttls: SmtpServer) -> None:
    # guard against a fixture that silently does nothing: a raw client must be
    # refused mail before STARTTLS
    with smtplib.SMTP("127.0.0.1", smtp_starttls.port, timeout=5) as s:
        code, _ = s.mail("a@x")
    assert code == 530
