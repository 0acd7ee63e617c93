"""Identifier minting and parsing.

Run ids are UUIDv7 (RFC 9562): time-ordered, so B-tree inserts stay at the right edge
of the index instead of scattering like random UUIDv4 keys.
"""

import os
import time
import uuid

from procobs_dagster.errors import InvalidInput
from procobs_dagster.limits import shown


def uuid7() -> uuid.UUID:
    unix_ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (unix_ms & 0xFFFF_FFFF_FFFF) << 80
    value |= 0x7 << 76  # version
    value |= ((rand >> 62) & 0xFFF) << 64  # rand_a, 12 bits
    value |= 0b10 << 62  # RFC 9562 variant
    value |= rand & 0x3FFF_FFFF_FFFF_FFFF  # rand_b, 62 bits
    return uuid.UUID(int=value)


def parse_uuid(value: "str | uuid.UUID", what: str = "id") -> uuid.UUID:
    """Parse a UUID given by a user, naming the field when it is malformed."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (ValueError, AttributeError, TypeError):
        raise InvalidInput(f"malformed {what}: {shown(value)} is not a UUID") from None


def optional_uuid(value: "str | uuid.UUID | None", what: str = "id") -> "uuid.UUID | None":
    return None if value is None else parse_uuid(value, what)
