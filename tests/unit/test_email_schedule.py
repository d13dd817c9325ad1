"""Digest times in the member's zone, across DST and half-hour offsets; zone names checked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from taskbell.domain import EmailMode
from taskbell.errors import BadUserInput
from taskbell.services import email_schedule


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_hourly_is_the_next_top_of_the_local_hour() -> None:
    """Kolkata is +05:30: its top of the hour is half past in UTC."""
    due = email_schedule.next_digest(EmailMode.HOURLY, "Asia/Kolkata", at("2026-03-01T10:10"))
    assert due == at("2026-03-01T10:30")
    assert email_schedule.next_digest(EmailMode.HOURLY, "UTC", at("2026-03-01T10:00")) == at(
        "2026-03-01T11:00"
    )


def test_daily_is_eight_in_the_morning_local_time_also_across_dst() -> None:
    """Berlin moves to summer time on 2026-03-29: 08:00 is 07:00 UTC before, 06:00 after."""
    before = email_schedule.next_digest(EmailMode.DAILY, "Europe/Berlin", at("2026-03-28T07:30"))
    assert before == at("2026-03-29T06:00")
    same_day = email_schedule.next_digest(EmailMode.DAILY, "Europe/Berlin", at("2026-03-27T05:00"))
    assert same_day == at("2026-03-27T07:00")
    local = same_day.astimezone(ZoneInfo("Europe/Berlin"))
    assert (local.hour, local.minute) == (8, 0)


def test_modes_without_a_schedule_have_no_digest() -> None:
    for mode in (EmailMode.OFF, EmailMode.IMMEDIATE):
        assert email_schedule.next_digest(mode, "UTC", at("2026-03-01T10:00")) is None


def test_switching_to_immediate_opens_a_window_only_for_what_is_pending() -> None:
    now = at("2026-03-01T10:00")
    args = ("UTC", None)
    assert email_schedule.rescheduled(
        EmailMode.DAILY, EmailMode.IMMEDIATE, *args, True, now, 60
    ) == (now + timedelta(seconds=60))
    assert (
        email_schedule.rescheduled(EmailMode.DAILY, EmailMode.IMMEDIATE, *args, False, now, 60)
        is None
    )
    assert (
        email_schedule.rescheduled(EmailMode.IMMEDIATE, EmailMode.OFF, *args, True, now, 60) is None
    )
    kept = now + timedelta(seconds=5)
    assert (
        email_schedule.rescheduled(
            EmailMode.IMMEDIATE, EmailMode.IMMEDIATE, "UTC", kept, True, now, 60
        )
        == kept
    )


@pytest.mark.parametrize("name", ["Nowhere/City", "", " ", "../../etc/passwd", "A" * 65])
def test_unknown_zones_are_bad_input(name: str) -> None:
    with pytest.raises(BadUserInput):
        email_schedule.zone(name)


def test_known_zones_are_returned_by_their_key() -> None:
    assert email_schedule.zone(" America/New_York ").key == "America/New_York"
