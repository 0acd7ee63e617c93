"""Webhook signatures: how the relay signs a body and how a receiver checks it.

The header (``Procobs-Signature``) is ``t=<unix seconds>,v1=<hex>``, where ``<hex>`` is
HMAC-SHA256 under the shared secret of the bytes ``<t>.`` followed by the exact request
body. Signing the timestamp with the body stops replays: a receiver refuses a signature
older (or newer) than its tolerance, so a captured request cannot be sent again later.
Several ``v1=`` entries may appear (a sender rotating secrets); one match is enough.
"""

import hashlib
import hmac
import time

SIGNATURE_HEADER = "Procobs-Signature"
SIGNATURE_VERSION = "v1"
DEFAULT_TOLERANCE_SECONDS = 300


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
    or malformed header, a stale or future timestamp, or a wrong digest all give False.
    """
    if not header:
        return False
    timestamp: int | None = None
    digests: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            return False
        if key == "t":
            if not value.isdigit():
                return False
            timestamp = int(value)
        elif key == SIGNATURE_VERSION:
            digests.append(value)
    if timestamp is None or not digests:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_seconds:
        return False
    expected = _digest(body, secret, timestamp)
    return any(hmac.compare_digest(expected, digest) for digest in digests)
