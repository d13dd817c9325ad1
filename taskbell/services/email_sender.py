"""The outbox handler for email: build the MIME message, hand it to the SMTP server.

It also runs this process's email sweeper (taskbell.services.email_sweeper): both
exist only when TASKBELL_SMTP_URL is set, and live exactly as long as each other.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, getaddresses
from urllib.parse import unquote, urlsplit

import aiosmtplib

from taskbell import models
from taskbell.config import Settings
from taskbell.db import Sessions
from taskbell.domain import EmailMode
from taskbell.outbox import Message, Outcome, Verdict
from taskbell.services.email_sweeper import EmailSweeper

# RFC 5322 lines may reach 998 characters: a long List-Unsubscribe URL stays one raw
# line instead of being folded into RFC 2047 encoded words that clients do not parse.
POLICY = policy.SMTP.clone(max_line_length=998)
# Per SMTP step, and for the whole conversation: well inside the outbox's 60 s lease, so
# no other process takes the message over while this one may still be sending it.
TIMEOUT_SECONDS = 30.0
TOTAL_TIMEOUT_SECONDS = 45.0
_PERMANENT = 500


@dataclass(frozen=True, slots=True)
class SmtpServer:
    """Where mail goes, from ``smtp://[user:pass@]host[:port]`` or ``smtps://...``."""

    host: str
    port: int
    use_tls: bool
    username: str | None
    password: str | None

    @classmethod
    def parse(cls, url: str) -> SmtpServer:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("TASKBELL_SMTP_URL must look like smtp://host:port or smtps://...")
        use_tls = parts.scheme == "smtps"
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if use_tls else 25),
            use_tls=use_tls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )


def envelope_address(sender: str) -> str:
    """The bare address of ``Name <addr>``, for MAIL FROM."""
    addresses = getaddresses([sender])
    return addresses[0][1] if addresses and addresses[0][1] else sender


def message_id_header(message_id: str, sender: str) -> str:
    """``<outbox id@sender's domain>``: the same on every attempt at one email."""
    domain = envelope_address(sender).rpartition("@")[2]
    return f"<{message_id}@{domain or 'taskbell.localhost'}>"


def build_message(message: Message, sender: str, to: Address) -> EmailMessage:
    """Text and HTML alternatives, RFC 8058 one-click unsubscribe headers."""
    body = json.loads(message.payload)
    mail = EmailMessage(policy=POLICY)
    mail["From"] = sender
    mail["To"] = to
    mail["Subject"] = body["subject"]
    mail["Date"] = formatdate(usegmt=True)
    mail["Message-ID"] = message_id_header(message.message_id, sender)
    mail["List-Unsubscribe"] = f"<{body['unsubscribeUrl']}>"
    mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies, please
    mail.set_content(body["text"])
    mail.add_alternative(body["html"], subtype="html")
    return mail


class EmailSender:
    """Connects per email: batching keeps emails rare, and no idle connection can go stale."""

    def __init__(self, settings: Settings, sessions: Sessions, wake: Callable[[], None]) -> None:
        assert settings.smtp_url is not None, "email needs TASKBELL_SMTP_URL"
        self._server = SmtpServer.parse(settings.smtp_url.get_secret_value())
        self._sender = settings.email_from
        self._envelope_from = envelope_address(settings.email_from)
        self._sessions = sessions
        self._schedule = tuple(settings.email_retry_schedule)
        self._sweeper = EmailSweeper(settings, sessions, wake)

    @property
    def retry_schedule(self) -> Sequence[float]:
        return self._schedule

    async def start(self) -> None:
        await self._sweeper.start()

    async def stop(self) -> None:
        await self._sweeper.stop()

    async def deliver(self, message: Message) -> Outcome:
        async with self._sessions() as session:
            member = await session.get(models.User, message.target_id)
        if member is None or member.email_mode is EmailMode.OFF:
            return Outcome(Verdict.GIVE_UP, error="the member is gone or turned email off")
        to = Address(display_name=member.name, addr_spec=member.email)
        mail = build_message(message, self._sender, to)
        try:
            async with asyncio.timeout(TOTAL_TIMEOUT_SECONDS):
                await self._send(mail, member.email)
        except aiosmtplib.SMTPRecipientsRefused as refused:
            codes = [error.code for error in refused.recipients]
            verdict = Verdict.GIVE_UP if min(codes) >= _PERMANENT else Verdict.RETRY
            return Outcome(verdict, status_code=min(codes), error=str(refused)[:200])
        except aiosmtplib.SMTPResponseException as error:  # 4xx or 5xx: may be fixed, retry
            return Outcome(Verdict.RETRY, status_code=error.code, error=str(error)[:200])
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            return Outcome(Verdict.RETRY, error=f"{type(error).__name__}: {error}"[:200])
        return Outcome(Verdict.DELIVERED)

    async def _send(self, mail: EmailMessage, to: str) -> None:
        server = self._server
        await aiosmtplib.send(
            # Flattened here: aiosmtplib's own policy would fold long headers.
            mail.as_bytes(),
            sender=self._envelope_from,
            recipients=[to],
            hostname=server.host,
            port=server.port,
            username=server.username,
            password=server.password,
            use_tls=server.use_tls,
            start_tls=None if not server.use_tls else False,  # None: STARTTLS when offered
            timeout=TIMEOUT_SECONDS,
        )
