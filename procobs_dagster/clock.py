"""The one source of 'now'. Timestamps are always timezone-aware UTC."""

import datetime as dt

from procobs_dagster.errors import InvalidInput


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def ensure_utc(value: dt.datetime, what: str = "timestamp") -> dt.datetime:
    if value.tzinfo is None:
        raise InvalidInput(f"{what} must be timezone-aware, got naive {value.isoformat()}")
    return value.astimezone(dt.UTC)
