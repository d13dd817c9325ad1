"""A real SMTP server on 127.0.0.1 for the email tests (aiosmtpd's Controller, in a thread):
it records every message it accepts, parsed, and can be stopped and started on its port."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.support.processes import HOST, free_port


@dataclass(frozen=True)
class Mail:
    envelope_to: list[str]
    message: EmailMessage
    raw: bytes

    @property
    def text(self) -> str:
        part = self.message.get_body(("plain",))
        assert part is not None
        return str(part.get_content())

    @property
    def html(self) -> str:
        part = self.message.get_body(("html",))
        assert part is not None
        return str(part.get_content())

    def header(self, name: str) -> str:
        return str(self.message[name] or "")


@dataclass
class SmtpReceiver:
    port: int = field(default_factory=free_port)
    received: list[Mail] = field(default_factory=list)
    # Addresses answered with a permanent 550 at RCPT TO.
    refused: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://{HOST}:{self.port}"

    def start(self) -> None:
        self._controller = Controller(self, hostname=HOST, port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    # aiosmtpd calls the handler's hooks by these names.
    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.refused:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        parsed = message_from_bytes(content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        with self._lock:
            self.received.append(Mail([str(r) for r in envelope.rcpt_tos], parsed, content))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[Mail]:
        with self._lock:
            return [m for m in self.received if address in m.envelope_to]

    async def wait_for(self, condition: Callable[[SmtpReceiver], Any], seconds: float = 20) -> None:
        """Wait on the received list, never a fixed sleep."""
        async with asyncio.timeout(seconds):
            while not condition(self):  # noqa: ASYNC110  # a thread appends; nothing to await
                await asyncio.sleep(0.05)
