"""E-mail over SMTP: the settings, a message, and sending it.

Used by intake's notices to candidates (services/intake/notify*.py) and the portal's e-mailed
links (services/portal/mail.py). Sent with the standard library's `smtplib` in a worker
thread (`asyncio.to_thread`): one message at a time is all either needs, `smtplib` has done
STARTTLS, implicit TLS and AUTH for decades, and it adds no dependency to the services'
images; an async client would only save the thread.

The settings are the services' own (`plumbing/settings.py`, `TALENTLOOP_SMTP_*`,
`TALENTLOOP_MAIL_*`). Nothing is sent when `TALENTLOOP_SMTP_HOST` or `TALENTLOOP_MAIL_FROM` is
unset: `configured` is false and callers say so in their logs once, at start.
"""

from __future__ import annotations

import asyncio
import re
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from plumbing.settings import Settings


def configured(settings: Settings) -> bool:
    return bool(settings.smtp_host and settings.mail_from)


def describe(settings: Settings) -> str:
    """What the logs say about where mail goes (never the password)."""
    if not configured(settings):
        return "not configured (TALENTLOOP_SMTP_HOST or TALENTLOOP_MAIL_FROM unset): nothing is sent"
    who = f", as {settings.smtp_user}" if settings.smtp_user else ""
    return f"{settings.smtp_host}:{settings.smtp_port} ({settings.smtp_security}{who}) from {settings.mail_from}"


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    text: str
    language: str = "en"
    # Stable per notice (intake: the event's id), so a receiving system can tell a copy.
    message_id: str | None = None


class MailError(Exception):
    """The message was not accepted. `permanent`: the server refused it for good (5xx, a
    recipient refused): trying again will not help."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


def message(mail: Mail, sender: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = mail.to
    msg["Subject"] = mail.subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = mail.message_id or make_msgid(domain="talentloop")
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to it
    msg.set_content(mail.text)
    msg["Content-Language"] = mail.language  # after set_content, which drops Content-* headers
    return msg


class Mailer:
    """Sends one message at a time with the configured server."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def configured(self) -> bool:
        return configured(self.settings)

    async def send(self, mail: Mail) -> None:
        """Raises `MailError` when the server did not take it."""
        if not self.configured:
            raise MailError("mail is not configured", permanent=True)
        msg = message(mail, self.settings.mail_from or "")
        await asyncio.to_thread(self._send, msg)

    def _send(self, msg: EmailMessage) -> None:
        s = self.settings
        context = ssl.create_default_context()
        try:
            if s.smtp_security == "tls":
                client: smtplib.SMTP = smtplib.SMTP_SSL(
                    s.smtp_host or "", s.smtp_port, timeout=s.smtp_timeout_s, context=context
                )
            else:
                client = smtplib.SMTP(s.smtp_host or "", s.smtp_port, timeout=s.smtp_timeout_s)
            with client:
                if s.smtp_security == "starttls":
                    client.starttls(context=context)
                if s.smtp_user:
                    client.login(s.smtp_user, s.smtp_password or "")
                client.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            # 4xx for a recipient ("try later", greylisting) is temporary too.
            permanent = all(code >= 500 for code, _ in exc.recipients.values())
            raise MailError(f"recipient refused: {_codes(exc.recipients)}", permanent=permanent) from None
        except smtplib.SMTPResponseException as exc:
            # 5xx: refused for good (bad address, policy); 4xx: try later.
            raise MailError(f"{exc.smtp_code} {_text(exc.smtp_error)}", permanent=exc.smtp_code >= 500) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise MailError(f"server cannot: {exc}", permanent=False) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise MailError(f"{type(exc).__name__}: {_text(str(exc))}", permanent=False) from None


_ADDRESS = re.compile(r"[^\s<>\"']+@[^\s<>\"']+")


def _text(error: bytes | str) -> str:
    """A server's answer without the addresses it may quote (personal data)."""
    text = error.decode(errors="replace") if isinstance(error, bytes) else str(error)
    return _ADDRESS.sub("<address>", text)[:200]


def _codes(recipients: dict[str, tuple[int, bytes]]) -> str:
    # The codes only: the address is personal data and stays out of logs and tables.
    return ", ".join(f"{code} {_text(text)}" for code, text in recipients.values())
