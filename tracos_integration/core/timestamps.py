"""Timestamps: every date becomes an aware UTC datetime at millisecond precision.

MongoDB stores datetimes in milliseconds, so comparing at any finer precision
would make a re-run look newer than what it wrote.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone, tzinfo

from tracos_integration.core.text import short

UTC = timezone.utc


def to_utc_millis(moment: datetime) -> datetime:
    """Convert an aware datetime to UTC and drop sub-millisecond digits."""
    moment = moment.astimezone(UTC)  # the same object when already UTC
    extra = moment.microsecond % 1000
    # datetime.replace costs more than the parse: only when there is something to drop.
    return moment - timedelta(microseconds=extra) if extra else moment


def parse_iso_timestamp(value: object, naive_zone: tzinfo) -> datetime:
    """Parse an ISO 8601 string; a value without an offset is read in `naive_zone`."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"{_shorten(value)}{_why_not(value)}") from None
    else:
        raise ValueError(f"expected an ISO 8601 timestamp string, got {type_name(value)}")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=naive_zone)
    try:
        return to_utc_millis(parsed)
    except OverflowError:
        raise ValueError(f"{_shorten(value)} is outside the supported date range") from None


# ISO 8601 allows both, but Python and MongoDB count time without leap seconds, and a day
# there ends at 23:59:59.999: say what to send instead of a bare "not a timestamp".
_LEAP_SECOND = re.compile(r"\d[T ]\d\d:\d\d:60(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?$", re.IGNORECASE)
_END_OF_DAY = re.compile(r"\d[T ]24:00(?::00(?:[.,]0+)?)?(?:Z|[+-]\d\d:?\d\d)?$", re.IGNORECASE)


def _why_not(value: str) -> str:
    text = value.strip()
    if _LEAP_SECOND.search(text):
        return ": leap seconds (23:59:60) are not supported; use 23:59:59.999"
    if _END_OF_DAY.search(text):
        return ": 24:00 is not accepted; use 00:00 of the next day"
    return " is not an ISO 8601 timestamp"


def format_timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC with an explicit offset and millisecond precision."""
    return to_utc_millis(moment).isoformat(timespec="milliseconds")


def type_name(value: object) -> str:
    """The JSON name of a value's type, for error messages (never a Python type name for
    what JSON can hold)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, datetime):
        return "a date"
    return type(value).__name__


def _shorten(value: object, limit: int = 60) -> str:
    return short(json.dumps(value) if isinstance(value, str) else repr(value), limit)
