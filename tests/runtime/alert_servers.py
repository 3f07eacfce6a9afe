"""Real servers on loopback for the alert channels: SMTP (aiosmtpd) and HTTP.

Both run in threads on 127.0.0.1 and record what they receive, so tests
check the bytes a real client put on the wire.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

SMTP_USER = "alerts@example.test"
SMTP_PASSWORD = "s3cret-pw"
DINGTALK_SECRET = "SECtest0123456789abcdef"


# -- TLS ---------------------------------------------------------------------------


@dataclass
class Certificate:
    cert_pem: bytes
    key_pem: bytes
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert_file, self.key_file)
        return ctx

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cadata=self.cert_pem.decode())


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate for 127.0.0.1, made fresh for this test session."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    d = tmp_path_factory.mktemp("tls")
    (d / "cert.pem").write_bytes(cert_pem)
    (d / "key.pem").write_bytes(key_pem)
    return Certificate(cert_pem, key_pem, d / "cert.pem", d / "key.pem")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- SMTP ----------------------------------------------------------------------------


@dataclass
class Mail:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    tls: bool
    login: bytes | None


@dataclass
class MailSink:
    mails: list[Mail] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = message_from_bytes(envelope.original_content, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        self.mails.append(Mail(envelope.mail_from, list(envelope.rcpt_tos), msg,
                               tls=session.ssl is not None or server.transport.get_extra_info("sslcontext") is not None,
                               login=getattr(session.auth_data, "login", None)))
        return "250 OK"


def _authenticator(server: Any, session: Any, envelope: Any, mechanism: str,
                   auth_data: Any) -> AuthResult:
    ok = (isinstance(auth_data, LoginPassword) and auth_data.login == SMTP_USER.encode()
          and auth_data.password == SMTP_PASSWORD.encode())
    if not ok:
        return AuthResult(success=False, handled=False)  # the server answers 535
    return AuthResult(success=True, auth_data=auth_data)


@dataclass
class SmtpServer:
    port: int
    sink: MailSink


@pytest.fixture
def smtp_starttls(certificate: Certificate) -> Iterator[SmtpServer]:
    """SMTP requiring STARTTLS, then AUTH, before accepting mail."""
    sink = MailSink()
    port = free_port()
    controller = Controller(
        sink, hostname="127.0.0.1", port=port, tls_context=certificate.server_context(),
        require_starttls=True, authenticator=_authenticator, auth_required=True,
    )
    controller.start()
    try:
        yield SmtpServer(port, sink)
    finally:
        controller.stop()


@pytest.fixture
def smtp_ssl(certificate: Certificate) -> Iterator[SmtpServer]:
    """SMTP over implicit TLS (port-465 style) with AUTH."""
    sink = MailSink()
    port = free_port()
    controller = Controller(
        sink, hostname="127.0.0.1", port=port, ssl_context=certificate.server_context(),
        authenticator=_authenticator, auth_required=True, auth_require_tls=False,
    )
    controller.start()
    try:
        yield SmtpServer(port, sink)
    finally:
        controller.stop()


@pytest.fixture
def smtp_plain() -> Iterator[SmtpServer]:
    """SMTP without TLS or AUTH (a local relay)."""
    sink = MailSink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SmtpServer(port, sink)
    finally:
        controller.stop()


# -- HTTP ----------------------------------------------------------------------------


@dataclass
class Request:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def dingtalk_verify(timestamp: str, sign: str, secret: str) -> bool:
    """Check a signature the way DingTalk's server does (independent of sitesnap's code)."""
    mac = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256)
    fresh = abs(time.time() * 1000 - int(timestamp)) < 3600 * 1000
    return fresh and hmac.compare_digest(base64.b64encode(mac.digest()).decode(), sign)


class Receiver:
    """A threaded HTTP server that records POSTs and answers per path.

    ``/dingtalk`` and ``/wecom`` answer like the robots (``errcode``); ``/dingtalk``
    verifies the signature against :data:`DINGTALK_SECRET` when one is sent and
    ``/dingtalk-signed`` demands one.  ``/status/NNN`` answers that HTTP status.
    """

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                parts = urlsplit(self.path)
                req = Request(parts.path, parse_qs(parts.query), dict(self.headers.items()),
                              self.rfile.read(length))
                with receiver._lock:
                    receiver.requests.append(req)
                status, body = receiver.answer(req)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    @property
    def base(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def url(self, path: str) -> str:
        return self.base + path

    def answer(self, req: Request) -> tuple[int, bytes]:
        ok = json.dumps({"errcode": 0, "errmsg": "ok"}).encode()
        if req.path.startswith("/status/"):
            return int(req.path.rsplit("/", 1)[1]), b'{"error": "nope"}'
        if req.path.startswith("/dingtalk"):
            ts, sign = req.query.get("timestamp", [""])[0], req.query.get("sign", [""])[0]
            if req.query.get("access_token") != ["tok"]:
                return 200, json.dumps({"errcode": 300001, "errmsg": "token missing"}).encode()
            if (sign or req.path == "/dingtalk-signed") and not (
                ts and dingtalk_verify(ts, sign, DINGTALK_SECRET)
            ):
                return 200, json.dumps({"errcode": 310000, "errmsg": "sign not match"}).encode()
            return 200, ok
        if req.path.startswith("/wecom"):
            if req.query.get("key") != ["k1"]:
                return 200, json.dumps({"errcode": 93000, "errmsg": "invalid webhook url"}).encode()
            return 200, ok
        return 200, b"ok"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections but never says a word (to test timeouts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield int(s.getsockname()[1])
