"""The email alert channel: SMTP with STARTTLS or implicit TLS, and AUTH."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Literal

from sitesnap.errors import ConfigError, NotificationError
from sitesnap.runtime.alerts.message import render_html, render_text, title
from sitesnap.runtime.alerts.state import Notification

__all__ = ["EmailChannel", "SmtpSecurity"]

DEFAULT_TIMEOUT = 10.0

SmtpSecurity = Literal["starttls", "ssl", "none"]
_DEFAULT_PORT = {"starttls": 587, "ssl": 465, "none": 25}


@dataclass
class EmailChannel:
    """Email over SMTP with a plain-text and an HTML part.

    ``security`` is ``starttls`` (default; refuses servers without STARTTLS),
    ``ssl`` (implicit TLS, port 465) or ``none``.  Credentials are only sent
    over an encrypted connection.  ``ssl_context`` defaults to the system's
    verified context.
    """

    host: str
    sender: str
    recipients: Sequence[str]
    port: int | None = None
    username: str | None = None
    password: str | None = None
    security: SmtpSecurity = "starttls"
    timeout: float = DEFAULT_TIMEOUT
    name: str = "email"
    ssl_context: ssl.SSLContext | None = None

    def __post_init__(self) -> None:
        if self.security not in _DEFAULT_PORT:
            raise ConfigError(f"{self.name}: security must be starttls, ssl or none")
        if not self.recipients:
            raise ConfigError(f"{self.name}: no recipients")
        if self.username and self.security == "none":
            raise ConfigError(f"{self.name}: refusing to send the SMTP password unencrypted",
                              hint="Set security to 'starttls' or 'ssl'.")

    def message(self, notification: Notification) -> EmailMessage:
        """The email for ``notification`` (also used by tests and previews)."""
        msg = EmailMessage()
        msg["Subject"] = f"[sitesnap] {title(notification)}"
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.recipients)
        msg["Date"] = formatdate(localtime=True)
        msg["Message-ID"] = make_msgid(domain="sitesnap")
        msg.set_content(render_text(notification))
        msg.add_alternative(render_html(notification), subtype="html")
        return msg

    def send(self, notification: Notification) -> None:
        msg = self.message(notification)
        port = self.port or _DEFAULT_PORT[self.security]
        where = f"{self.host}:{port}"
        context = self.ssl_context or ssl.create_default_context()
        try:
            smtp: smtplib.SMTP
            if self.security == "ssl":
                smtp = smtplib.SMTP_SSL(self.host, port, timeout=self.timeout, context=context)
            else:
                smtp = smtplib.SMTP(self.host, port, timeout=self.timeout)
            with smtp:
                smtp.ehlo()
                if self.security == "starttls":
                    smtp.starttls(context=context)
                    smtp.ehlo()
                if self.username:
                    smtp.login(self.username, self.password or "")
                smtp.send_message(msg)
        except smtplib.SMTPAuthenticationError as exc:
            raise NotificationError(f"{self.name}: {where} rejected the login ({exc.smtp_code})",
                                    hint="Check the SMTP username and password.") from None
        except smtplib.SMTPNotSupportedError as exc:
            raise NotificationError(f"{self.name}: {where}: {exc}") from None
        except smtplib.SMTPResponseException as exc:
            raw = exc.smtp_error
            text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
            raise NotificationError(
                f"{self.name}: {where} answered {exc.smtp_code}: {text}"
            ) from None
        except smtplib.SMTPRecipientsRefused as exc:
            refused = ", ".join(sorted(exc.recipients))
            raise NotificationError(f"{self.name}: {where} refused recipients {refused}") from None
        except (TimeoutError, smtplib.SMTPServerDisconnected) as exc:
            raise NotificationError(f"{self.name}: {where}: {exc or 'timed out'}") from None
        except ssl.SSLError as exc:
            raise NotificationError(f"{self.name}: TLS with {where} failed: {exc.reason}") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise NotificationError(f"{self.name}: cannot send through {where}: {exc}") from None
