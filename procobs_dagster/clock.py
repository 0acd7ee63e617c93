"""The one source of 'now'. Timestamps are always timezone-aware UTC."""

import datetime as dt

from procobs_dagster.errors import InvalidInput


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def ensure_utc(value: dt.datetime, what: str = "timestamp") -> dt.datetime:
    if value.tzinfo is None:
        raise InvalidInput(f"{what} must be timezone-aware, got naive {value.isoformat()}")
    return value.astimezone(dt.UTC)


def seconds_since(now: dt.datetime, then: dt.datetime | None) -> float | None:
    """How long before ``now`` ``then`` was, to the millisecond; None for no ``then``."""
    return None if then is None else round((now - then).total_seconds(), 3)
