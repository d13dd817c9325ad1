"""The outbox of one process, with a handler registered for every delivery channel."""

from __future__ import annotations

from taskbell.config import Settings
from taskbell.db import Sessions
from taskbell.outbox import Outbox
from taskbell.runtime import Runtime
from taskbell.services import (
    email_sender,
    email_sweeper,
    push,
    push_sender,
    webhook_sender,
    webhooks,
)


def build_outbox(settings: Settings, sessions: Sessions) -> Outbox:
    """Email and Web Push register here too, each under its own channel name."""
    box = Outbox(sessions, poll_seconds=settings.outbox_poll_seconds)
    box.register(webhooks.CHANNEL, webhook_sender.WebhookSender(settings, sessions))
    if settings.smtp_url is not None:
        sender = email_sender.EmailSender(settings, sessions, box.wake)
        box.register(email_sweeper.CHANNEL, sender)
    return box


def register_runtime_channels(rt: Runtime) -> None:
    """Channels whose handlers need the whole runtime: push asks who is connected."""
    rt.outbox.register(push.CHANNEL, push_sender.PushSender(rt))
