"""Where events go: a webhook, a JSON-lines file, or nowhere (the null sink).

A sink turns one claimed delivery into an Outcome — delivered, retry (a transient failure:
try again later) or rejected (the receiver refused this event; counts towards dead). A
sink never raises for a failed delivery; the relay records the outcome. Sinks are built
from their configuration when the relay starts, so a misconfigured sink (no URL, the
secret's environment variable unset, an unwritable file) fails then, not at the first
event.
"""

import abc
import dataclasses
import email.utils
import enum
import errno
import fcntl
import functools
import os
import re
import stat
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import httpx

from procobs_dagster import __version__
from procobs_dagster.delivery.addresses import ALLOW_OPTION, refused_peer
from procobs_dagster.delivery.config import BACKOFF_MAX, SinkConfig
from procobs_dagster.delivery.signature import SIGNATURE_HEADER, sign
from procobs_dagster.errors import ConfigurationError
from procobs_dagster.events.envelope import Envelope
from procobs_dagster.limits import clipped

ERROR_TEXT_LIMIT = 300
# How much of a failed answer's body is read: enough for the error text, and a receiver
# answering with gigabytes costs the relay no more than this.
ERROR_BODY_BYTES = 4096
# A Retry-After longer than this is read as this (no sink's cap is longer): its digits
# are never turned into an unbounded number.
RETRY_AFTER_MAX_SECONDS = BACKOFF_MAX


@dataclasses.dataclass(frozen=True)
class Delivery:
    """One claimed (event, sink) pair, with the outbox row the event is rebuilt from."""

    event_id: uuid.UUID
    sink: str
    seq: int
    correlation_id: str
    attempt: int  # this attempt's number, 1 for the first
    rejections: int  # rejections before this attempt
    # The event's outbox row; None when claimed for a sink that reads no events.
    outbox_row: Mapping[str, Any] | None

    @functools.cached_property
    def envelope(self) -> Envelope:
        if self.outbox_row is None:
            raise LookupError(f"delivery of {self.event_id} was claimed without its event")
        return Envelope.from_outbox_row(self.outbox_row)

    @functools.cached_property
    def body(self) -> bytes:
        """The CloudEvents structured-mode JSON document, exactly as sent and signed."""
        return self.envelope.to_json().encode()


class OutcomeKind(enum.StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    REJECTED = "rejected"


@dataclasses.dataclass(frozen=True)
class Outcome:
    kind: OutcomeKind
    error: str | None = None
    status_code: int | None = None
    retry_after_seconds: float | None = None


DELIVERED = Outcome(OutcomeKind.DELIVERED)


def error_text(text: str) -> str:
    """Error text as stored: one line, bounded, without control characters (a receiver's
    answer is text from another server; it must not be able to drive a terminal or fake
    a line when shown)."""
    return clipped(" ".join(text[: 4 * ERROR_TEXT_LIMIT].split()), ERROR_TEXT_LIMIT)


class Sink(abc.ABC):
    """A destination. ``batched`` sinks take a whole claim at once (``deliver_batch``);
    a sink that does not ``read_events`` is handed deliveries without their event."""

    batched = False
    reads_events = True

    def __init__(self, config: SinkConfig):
        self.config = config

    @property
    def name(self) -> str:
        return self.config.name

    @abc.abstractmethod
    def deliver(self, delivery: Delivery) -> Outcome:
        """Deliver one event; report failure as an Outcome, never by raising."""

    def deliver_batch(self, deliveries: Sequence[Delivery]) -> list[Outcome]:
        return [self.deliver(d) for d in deliveries]

    def close(self) -> None:  # noqa: B027 — most sinks hold nothing to release
        """Release connections or files the sink holds."""


class NullSink(Sink):
    """Accepts every event unread and keeps nothing: for tests, benchmarks and dry
    wiring. It measures the queue alone: its claims do not fetch the events."""

    batched = True
    reads_events = False

    def deliver(self, delivery: Delivery) -> Outcome:
        return DELIVERED

    def deliver_batch(self, deliveries: Sequence[Delivery]) -> list[Outcome]:
        return [DELIVERED] * len(deliveries)


def _open_for_append(path: Path) -> BinaryIO:
    """``path`` opened for appending, created if missing — when it is a regular file.

    A FIFO, a device or a directory is refused (OSError) without blocking on it: the
    open does not wait for a FIFO's reader, and what was opened is checked, not a name
    that could change in between."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as exc:
        if exc.errno in (errno.ENXIO, errno.EISDIR):  # a FIFO without reader, a directory
            raise OSError(exc.errno, _NOT_REGULAR) from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, _NOT_REGULAR)
    os.set_blocking(fd, True)
    return os.fdopen(fd, "ab")


_NOT_REGULAR = "not a regular file (a FIFO, a device or a directory)"


class FileSink(Sink):
    """Appends each event's JSON document as one line to a file (offline use, tests).

    A batch is written with one ``write`` under an exclusive lock and fsynced before it
    counts as delivered, so relays in several processes may share a file."""

    batched = True

    def __init__(self, config: SinkConfig):
        super().__init__(config)
        self.path = Path(config.path or "")
        if not self.path.parent.is_dir():
            raise ConfigurationError(
                f"sink {config.name!r}: directory {self.path.parent} does not exist"
            )
        try:
            with _open_for_append(self.path):
                pass
        except OSError as exc:
            raise ConfigurationError(
                f"sink {config.name!r}: cannot append to {self.path}: {exc.strerror}"
            ) from None

    def deliver(self, delivery: Delivery) -> Outcome:
        return self.deliver_batch([delivery])[0]

    def deliver_batch(self, deliveries: Sequence[Delivery]) -> list[Outcome]:
        lines = b"".join(d.body + b"\n" for d in deliveries)
        try:
            with _open_for_append(self.path) as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                handle.write(lines)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            failed = Outcome(
                OutcomeKind.RETRY, error=error_text(f"cannot write {self.path}: {exc}")
            )
            return [failed] * len(deliveries)
        return [DELIVERED] * len(deliveries)


# Transient by HTTP semantics: timeout and rate limit; every 5xx is the server's problem.
RETRYABLE_STATUS = frozenset({408, 429})


_DELAY_DIGITS = re.compile(r"[0-9]+", re.ASCII)


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """A Retry-After header (delay in seconds or an HTTP date) as seconds from ``now``,
    at most RETRY_AFTER_MAX_SECONDS; None when it is neither. Whatever a receiver sends
    (Unicode digits, thousands of them, dates in year 9999) gives a number or None."""
    if not value:
        return None
    value = value.strip()
    if _DELAY_DIGITS.fullmatch(value):
        # More digits than the bound has cannot be under it (and are never converted).
        if len(value) > len(str(int(RETRY_AFTER_MAX_SECONDS))):
            return RETRY_AFTER_MAX_SECONDS
        return min(float(value), RETRY_AFTER_MAX_SECONDS)
    try:
        when = email.utils.parsedate_to_datetime(value)
        if when.tzinfo is None:
            return None
        return min(max(0.0, when.timestamp() - now), RETRY_AFTER_MAX_SECONDS)
    except (TypeError, ValueError, OverflowError, IndexError):
        return None


def classify(status: int, reason: str, headers: httpx.Headers, body: bytes, now: float):
    """2xx delivered; 408, 429 and 5xx retried; anything else (4xx, 3xx) rejected.
    ``body`` is the start of the answer (its text names a failure)."""
    if 200 <= status < 300:
        return DELIVERED
    detail = f"HTTP {status} {reason}".rstrip()
    text = body.decode("utf-8", errors="replace").strip()
    error = error_text(f"{detail}: {text}" if text else detail)
    if status >= 500 or status in RETRYABLE_STATUS:
        after = retry_after_seconds(headers.get("retry-after"), now)
        return Outcome(OutcomeKind.RETRY, error, status, after)
    return Outcome(OutcomeKind.REJECTED, error, status)


def _start_of(response: httpx.Response, limit: int) -> bytes:
    """Up to ``limit`` bytes of a streamed answer's body; the rest is never read."""
    read = bytearray()
    for chunk in response.iter_raw():
        read += chunk
        if len(read) >= limit:
            break
    return bytes(read[:limit])


class RefusedDestination(Exception):
    """A connection reached a link-local or cloud-metadata address (delivery.addresses)."""


class WebhookSink(Sink):
    """POSTs each event as a CloudEvents JSON document, signed with HMAC-SHA256.

    Headers: ``Content-Type: application/cloudevents+json``, ``Idempotency-Key`` and
    ``ce-id`` (the event id: receivers dedupe on it), ``Procobs-Delivery-Attempt``, and
    ``Procobs-Signature`` (see delivery.signature). Redirects are not followed."""

    def __init__(self, config: SinkConfig, secret: str):
        super().__init__(config)
        self._secret = secret.encode()
        self.client = httpx.Client(
            timeout=httpx.Timeout(config.timeout_seconds),
            follow_redirects=False,
            # Uncompressed answers: the few bytes read of a failure are its text, and a
            # compressed one cannot unpack into more than is read.
            headers={"User-Agent": f"procobs/{__version__}", "Accept-Encoding": "identity"},
        )
        self._extensions = {} if config.allow_link_local else {"trace": _refuse_metadata_peer}

    def headers(self, delivery: Delivery, body: bytes) -> dict[str, str]:
        event_id = str(delivery.event_id)
        return {
            "Content-Type": "application/cloudevents+json; charset=utf-8",
            "Idempotency-Key": event_id,
            "ce-id": event_id,
            "Procobs-Delivery-Attempt": str(delivery.attempt),
            # Wall-clock time: receivers compare it with their own clock.
            SIGNATURE_HEADER: sign(body, self._secret, int(time.time())),
        }

    def deliver(self, delivery: Delivery) -> Outcome:
        body = delivery.body
        try:
            with self.client.stream(
                "POST",
                self.config.url or "",
                content=body,
                headers=self.headers(delivery, body),
                extensions=self._extensions,
            ) as response:
                # Read (up to the bound) whatever the status: an answer read to its end
                # lets the connection serve the next delivery.
                start = _start_of(response, ERROR_BODY_BYTES)
                return classify(
                    response.status_code,
                    response.reason_phrase,
                    response.headers,
                    start,
                    time.time(),
                )
        except RefusedDestination as exc:
            return Outcome(OutcomeKind.RETRY, error_text(str(exc)))
        except httpx.TimeoutException as exc:
            waited = f"no answer within {self.config.timeout_seconds:g}s"
            return Outcome(OutcomeKind.RETRY, f"{type(exc).__name__}: {waited}")
        except httpx.TransportError as exc:
            # Messages of transport errors name the failure, not the URL.
            message = str(exc).replace(self.config.url or "", self.config.redacted_url or "")
            return Outcome(OutcomeKind.RETRY, error_text(f"{type(exc).__name__}: {message}"))

    def close(self) -> None:
        self.client.close()


def _refuse_metadata_peer(event: str, info: dict[str, Any]) -> None:
    """httpx's trace hook: once a connection is made, and before anything is sent on it,
    close it if it reached a link-local or metadata address (whatever DNS answered)."""
    if event != "connection.connect_tcp.complete":
        return
    stream = info["return_value"]
    refused = refused_peer(stream.get_extra_info("server_addr"))
    if refused:
        stream.close()
        raise RefusedDestination(
            f"not sent: {refused}; set {ALLOW_OPTION}: true on the sink to allow it"
        )


def build_sink(config: SinkConfig, environ: Mapping[str, str] | None = None) -> Sink:
    """The sink for ``config``, checked now: a webhook's secret variable must be set."""
    if config.kind == "null":
        return NullSink(config)
    if config.kind == "file":
        return FileSink(config)
    env = os.environ if environ is None else environ
    secret = env.get(config.secret_env or "")
    if not secret:
        raise ConfigurationError(
            f"sink {config.name!r}: environment variable {config.secret_env} is not set "
            "(it must hold the webhook's signing secret)"
        )
    return WebhookSink(config, secret)
