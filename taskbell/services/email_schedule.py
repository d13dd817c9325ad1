"""When a member's next email is due: the IMMEDIATE window, or the digest hour in their zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from taskbell.domain import EmailMode
from taskbell.errors import BadUserInput

DAILY_AT = time(8, 0)
ZONE_NAME_MAX = 64
# Every zone's UTC offset is a whole number of quarter hours.
_QUARTER = timedelta(minutes=15)


def zone(name: str) -> ZoneInfo:
    """The IANA zone of that name; BAD_USER_INPUT for anything else."""
    text = name.strip()
    try:
        if not text or len(text) > ZONE_NAME_MAX:
            raise ValueError(text)
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise BadUserInput(f"Unknown time zone {name[:ZONE_NAME_MAX]!r}.") from error


def next_digest(mode: EmailMode, zone_name: str, now: datetime) -> datetime | None:
    """The next top of the hour (HOURLY) or 08:00 (DAILY) strictly after ``now``, local time.

    None for the modes without a schedule. Computed on UTC instants, so a DST
    change neither skips a digest nor sends two.
    """
    tz = ZoneInfo(zone_name)
    if mode is EmailMode.HOURLY:
        instant = _floor_quarter(now.astimezone(UTC))
        while True:
            instant += _QUARTER
            if instant.astimezone(tz).minute == 0:
                return instant
    if mode is EmailMode.DAILY:
        today = now.astimezone(tz).date()
        for day in (today, today + timedelta(days=1), today + timedelta(days=2)):
            at = _local(day, tz)
            if at > now:
                return at
    return None


def _local(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, DAILY_AT, tzinfo=tz).astimezone(UTC)


def _floor_quarter(instant: datetime) -> datetime:
    return instant.replace(minute=instant.minute - instant.minute % 15, second=0, microsecond=0)


def rescheduled(
    old_mode: EmailMode,
    new_mode: EmailMode,
    zone_name: str,
    due: datetime | None,
    pending: bool,
    now: datetime,
    delay_seconds: float,
) -> datetime | None:
    """A member's email_due_at after they change their mode or zone.

    Digests move to their next time; IMMEDIATE keeps an open window, or opens one
    for what is already pending (e.g. a digest's worth); OFF has nothing due.
    """
    if new_mode in (EmailMode.HOURLY, EmailMode.DAILY):
        return next_digest(new_mode, zone_name, now)
    if new_mode is EmailMode.IMMEDIATE:
        if old_mode is EmailMode.IMMEDIATE and due is not None:
            return due
        return now + timedelta(seconds=delay_seconds) if pending else None
    return None
