"""The email a member gets for their pending notifications: subject, text and HTML parts."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote
from zoneinfo import ZoneInfo

import jinja2

from taskbell.domain import EmailMode

# An email lists this many notifications at most, then says how many more there are.
LISTED_MAX = 50
_INTROS = {
    EmailMode.IMMEDIATE: "Here is what happened in TaskBell while you were away:",
    EmailMode.HOURLY: "Your hourly TaskBell digest:",
    EmailMode.DAILY: "Your daily TaskBell digest:",
}


@dataclass(frozen=True, slots=True)
class PendingNote:
    """One notification going into an email."""

    id: int
    project_id: int
    project_name: str
    message: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str
    html: str


@functools.cache
def environment() -> jinja2.Environment:
    """Templates ship in the package (taskbell/templates); HTML ones are autoescaped."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("taskbell", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


def unsubscribe_url(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/email/unsubscribe?token={quote(token, safe='')}"


def render(
    name: str,
    mode: EmailMode,
    zone_name: str,
    notes: Sequence[PendingNote],
    public_url: str,
    unsubscribe: str,
) -> Rendered:
    """Notifications grouped by project, oldest first, times in the member's zone."""
    base = public_url.rstrip("/")
    count = len(notes)
    subject = f"{count} new TaskBell notification" + ("" if count == 1 else "s")
    if mode is not EmailMode.IMMEDIATE:
        subject = f"{_INTROS[mode].rstrip(':')}: {count} notification" + "s" * (count != 1)
    tz = ZoneInfo(zone_name)
    groups: dict[int, dict[str, object]] = {}
    for note in sorted(notes, key=lambda n: n.id)[:LISTED_MAX]:
        group = groups.setdefault(note.project_id, {"project": note.project_name, "notes": []})
        group["notes"].append(  # type: ignore[attr-defined]  # a list, set just above
            {
                "message": note.message,
                "at": note.created_at.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z"),
                "link": f"{base}/?project={note.project_id}",
            }
        )
    values = {
        "name": name,
        "subject": subject,
        "intro": _INTROS.get(mode, _INTROS[EmailMode.IMMEDIATE]),
        "groups": list(groups.values()),
        "more": max(0, count - LISTED_MAX),
        "mode": mode.value.lower(),
        "public_url": base,
        "unsubscribe_url": unsubscribe,
    }
    env = environment()
    return Rendered(
        subject=subject,
        text=env.get_template("email.txt").render(values),
        html=env.get_template("email.html").render(values),
    )
