"""The email as sent: RFC 8058 headers, a stable Message-ID, text and escaped HTML parts;
SMTP URLs read as operators write them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.headerregistry import Address

import pytest
from pydantic import ValidationError

from taskbell.config import Settings
from taskbell.domain import EmailMode
from taskbell.outbox import Message
from taskbell.services import email_render
from taskbell.services.email_sender import SmtpServer, build_message

PUBLIC = "https://bell.example.com/"


def rendered(message: str = "Ada changed task '<b>x</b>' from 'To Do' to 'Completed'") -> Message:
    note = email_render.PendingNote(
        id=7, project_id=3, project_name="Apollo & co", message=message,
        created_at=datetime(2026, 3, 1, 9, 30, tzinfo=UTC),
    )  # fmt: skip
    unsubscribe = email_render.unsubscribe_url(PUBLIC, "tok-en_1")
    out = email_render.render(
        "Bob", EmailMode.IMMEDIATE, "Europe/Paris", [note], PUBLIC, unsubscribe
    )
    payload = {
        "subject": out.subject,
        "text": out.text,
        "html": out.html,
        "unsubscribeUrl": unsubscribe,
    }
    return Message(
        id=1, channel="email", target_id=2, message_id="email_abc",
        event_type="email.notifications", payload=json.dumps(payload), attempts=0,
    )  # fmt: skip


def test_the_message_carries_one_click_unsubscribe_and_a_stable_message_id() -> None:
    message = rendered()
    mail = build_message(message, "TaskBell <bell@example.com>", Address("Bob", addr_spec="b@x.io"))
    assert mail["List-Unsubscribe"] == (
        "<https://bell.example.com/email/unsubscribe?token=tok-en_1>"
    )
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    raw = mail.as_bytes()  # as sent: one raw line each, never folded into encoded words
    assert (
        b"\r\nList-Unsubscribe: <https://bell.example.com/email/unsubscribe?token=tok-en_1>\r\n"
        in raw
    )
    assert b"\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" in raw
    assert mail["Message-ID"] == "<email_abc@example.com>"
    again = build_message(
        message, "TaskBell <bell@example.com>", Address("Bob", addr_spec="b@x.io")
    )
    assert again["Message-ID"] == mail["Message-ID"]
    assert mail.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in mail.iter_parts()] == ["text/plain", "text/html"]


def test_text_is_plain_and_html_is_escaped_with_times_in_the_members_zone() -> None:
    body = json.loads(rendered().payload)
    assert "Ada changed task '<b>x</b>'" in body["text"]
    assert "2026-03-01 10:30 CET" in body["text"]
    assert "<b>x</b>" not in body["html"]
    assert "&lt;b&gt;x&lt;/b&gt;" in body["html"]
    assert "Apollo &amp; co" in body["html"]
    assert 'href="https://bell.example.com/?project=3"' in body["html"]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.local", SmtpServer("mail.local", 25, False, None, None)),
        ("smtp://u%40x:p%3Aw@mail.local:587", SmtpServer("mail.local", 587, False, "u@x", "p:w")),
        ("smtps://mail.local", SmtpServer("mail.local", 465, True, None, None)),
    ],
)
def test_smtp_urls(url: str, expected: SmtpServer) -> None:
    assert SmtpServer.parse(url) == expected


@pytest.mark.parametrize("url", ["http://mail.local", "smtp://", "mail.local:25"])
def test_a_bad_smtp_url_fails_at_start(url: str) -> None:
    with pytest.raises(ValidationError):
        Settings(smtp_url=url)
