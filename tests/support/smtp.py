"""An SMTP server on 127.0.0.1 that keeps what it is given (aiosmtpd), for the tests of what
intake and the portal e-mail. It can answer "try later" for some addresses and refuse others
for good."""

from __future__ import annotations

import email
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from email.policy import default as email_policy
from typing import Any

from aiosmtpd.controller import Controller

from tests.conftest import free_port


class Capture:
    def __init__(self) -> None:
        self.mails: list[EmailMessage] = []
        self.busy: set[str] = set()  # answered "451 try again later"
        self.refused: set[str] = set()  # answered "550 mailbox unavailable", quoting the address
        self.port = 0

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        if address in self.refused:
            return f"550 5.1.1 <{address}>: mailbox unavailable"
        if address in self.busy:
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.mails.append(email.message_from_bytes(envelope.content, policy=email_policy))  # type: ignore[arg-type]
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.mails if m["To"] == address]


@contextmanager
def smtp_capture() -> Iterator[Capture]:
    capture = Capture()
    controller = Controller(capture, hostname="127.0.0.1", port=free_port())
    controller.start()
    capture.port = controller.port
    try:
        yield capture
    finally:
        controller.stop()
