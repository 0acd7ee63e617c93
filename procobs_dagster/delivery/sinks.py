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
import fcntl
import functools
import os
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from procobs_dagster import __version__
from procobs_dagster.delivery.config import SinkConfig
from procobs_dagster.delivery.signature import SIGNATURE_HEADER, sign
from procobs_dagster.errors import ConfigurationError
from procobs_dagster.events.envelope import Envelope

ERROR_TEXT_LIMIT = 300


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


def _short(text: str) -> str:
    single = " ".join(text.split())
    return single if len(single) <= ERROR_TEXT_LIMIT else single[: ERROR_TEXT_LIMIT - 1] + "…"


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
            with self.path.open("ab"):
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
            with self.path.open("ab") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                handle.write(lines)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            failed = Outcome(OutcomeKind.RETRY, error=_short(f"cannot write {self.path}: {exc}"))
            return [failed] * len(deliveries)
        return [DELIVERED] * len(deliveries)


# Transient by HTTP semantics: timeout and rate limit; every 5xx is the server's problem.
RETRYABLE_STATUS = frozenset({408, 429})


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """A Retry-After header (delay in seconds or an HTTP date) as seconds from ``now``."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)


def classify(response: httpx.Response, now: float) -> Outcome:
    """2xx delivered; 408, 429 and 5xx retried; anything else (4xx, 3xx) rejected."""
    status = response.status_code
    if 200 <= status < 300:
        return DELIVERED
    detail = f"HTTP {status} {response.reason_phrase}".rstrip()
    text = response.text.strip() if response.content else ""
    error = _short(f"{detail}: {text}" if text else detail)
    if status >= 500 or status in RETRYABLE_STATUS:
        after = retry_after_seconds(response.headers.get("retry-after"), now)
        return Outcome(OutcomeKind.RETRY, error, status, after)
    return Outcome(OutcomeKind.REJECTED, error, status)


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
            headers={"User-Agent": f"procobs/{__version__}"},
        )

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
            response = self.client.post(
                self.config.url or "", content=body, headers=self.headers(delivery, body)
            )
        except httpx.TimeoutException as exc:
            waited = f"no answer within {self.config.timeout_seconds:g}s"
            return Outcome(OutcomeKind.RETRY, f"{type(exc).__name__}: {waited}")
        except httpx.TransportError as exc:
            # Messages of transport errors name the failure, not the URL (which may carry
            # credentials); the URL is replaced should one ever appear.
            message = str(exc).replace(self.config.url or "", self.config.redacted_url or "")
            return Outcome(OutcomeKind.RETRY, _short(f"{type(exc).__name__}: {message}"))
        return classify(response, time.time())

    def close(self) -> None:
        self.client.close()


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
