"""Webhook signatures: how the relay signs a body and how a receiver checks it.

The header (``Procobs-Signature``) is ``t=<unix seconds>,v1=<hex>``, where ``<hex>`` is
HMAC-SHA256 under the shared secret of the bytes ``<t>.`` followed by the exact request
body. Signing the timestamp with the body stops replays: a receiver refuses a signature
older (or newer) than its tolerance, so a captured request cannot be sent again later.
Several ``v1=`` entries may appear (a sender rotating secrets); one match is enough.
"""

import hashlib
import hmac
import re
import time

SIGNATURE_HEADER = "Procobs-Signature"
SIGNATURE_VERSION = "v1"
DEFAULT_TOLERANCE_SECONDS = 300
# A header longer than this is no signature (many rotated secrets fit well within it).
HEADER_MAX_LENGTH = 4096
# Unix seconds in ASCII digits (str.isdigit would take '²'), up to year 5138.
_TIMESTAMP = re.compile(r"[0-9]{1,11}", re.ASCII)
_HEX_DIGEST = re.compile(r"[0-9a-f]{64}", re.ASCII)


def _as_bytes(value: str | bytes) -> bytes:
    return value.encode() if isinstance(value, str) else value


def _digest(body: bytes, secret: str | bytes, timestamp: int) -> str:
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(_as_bytes(secret), signed, hashlib.sha256).hexdigest()


def sign(body: bytes, secret: str | bytes, timestamp: int | None = None) -> str:
    """The header value for ``body`` signed now (or at ``timestamp``, unix seconds)."""
    at = int(time.time()) if timestamp is None else int(timestamp)
    return f"t={at},{SIGNATURE_VERSION}={_digest(body, secret, at)}"


def verify_signature(
    body: bytes,
    header: str | None,
    secret: str | bytes,
    *,
    tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """True when ``header`` signs exactly ``body`` under ``secret`` within the tolerance.

    ``body`` must be the raw request bytes as received (not re-serialised JSON). A missing
    or malformed header, a stale or future timestamp, or a wrong digest all give False;
    no header, however hostile, makes it raise.
    """
    if not isinstance(header, str) or not header or len(header) > HEADER_MAX_LENGTH:
        return False
    timestamp: int | None = None
    digests: list[bytes] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            return False
        if key == "t":
            if not _TIMESTAMP.fullmatch(value):
                return False
            timestamp = int(value)
        elif key == SIGNATURE_VERSION:
            if not _HEX_DIGEST.fullmatch(value):
                return False
            digests.append(value.encode())
    if timestamp is None or not digests:
        return False
    current = time.time() if now is None else now
    if not abs(current - timestamp) <= tolerance_seconds:  # NaN tolerances refuse too
        return False
    expected = _digest(body, secret, timestamp).encode()
    return any(hmac.compare_digest(expected, digest) for digest in digests)
