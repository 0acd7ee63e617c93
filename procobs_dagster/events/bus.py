"""The in-process event bus on reactivex (docs/design.md, "Domain events").

    from procobs_dagster.events.bus import default_bus

    bus = default_bus()
    bus.subscribe("process.run.failed", lambda event: page(event.data))
    bus.stream.pipe(ops.map(lambda e: e.type)).subscribe(print)   # raw rx.Observable

Every event ``events.emit`` writes (active type, emission on) is published to the
process-wide bus after its transaction commits — so it is already durable in audit_log
and event_outbox when a subscriber sees it; an event whose transaction rolled back is
never seen. Gated events (inactive type, emission off) are neither written nor
published. A subscriber that raises is logged and skipped: the other subscribers still
get the event, the emitter never notices, and the subscriber stays subscribed.
"""

import logging
import threading
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import reactivex
from reactivex import Observable
from reactivex import operators as ops
from reactivex.abc import DisposableBase, ObserverBase
from reactivex.subject import Subject
from sqlalchemy.engine import Connection

from procobs_dagster.events import outbox, publishing
from procobs_dagster.events.envelope import Envelope

log = logging.getLogger(__name__)


@runtime_checkable
class EventBus(Protocol):
    def emit(
        self, conn: Connection, event_type: str, payload: Any, **options: Any
    ) -> Envelope | None:
        """``events.emit`` (same arguments), published to this bus after commit."""

    def subscribe(self, event_type: str, handler: Callable[[Envelope], Any]) -> DisposableBase:
        """Call ``handler`` with every published event of ``event_type``."""

    @property
    def stream(self) -> Observable[Envelope]:
        """Every published event, for rx operators."""

    def publish(self, envelope: Envelope) -> None:
        """Hand a committed event to the subscribers."""


class ReactiveEventBus:
    """An EventBus whose fan-out is a reactivex Subject."""

    def __init__(self) -> None:
        self._subject: Subject[Envelope] = Subject()

    def emit(
        self, conn: Connection, event_type: str, payload: Any, **options: Any
    ) -> Envelope | None:
        return outbox.emit(conn, event_type, payload, bus=self, **options)

    def publish(self, envelope: Envelope) -> None:
        self._subject.on_next(envelope)

    @property
    def stream(self) -> Observable[Envelope]:
        def subscribe(observer: ObserverBase, scheduler=None) -> DisposableBase:
            return self._subject.subscribe(
                on_next=_guarded(observer),
                on_error=observer.on_error,
                on_completed=observer.on_completed,
                scheduler=scheduler,
            )

        return reactivex.create(subscribe)

    def subscribe(self, event_type: str, handler: Callable[[Envelope], Any]) -> DisposableBase:
        outbox.payload_model(event_type)  # an unknown type is refused, not silently unheard
        return self.stream.pipe(ops.filter(lambda event: event.type == event_type)).subscribe(
            on_next=handler
        )


def _guarded(observer: ObserverBase) -> Callable[[Envelope], None]:
    def on_next(envelope: Envelope) -> None:
        try:
            observer.on_next(envelope)
        except Exception:
            log.exception("event subscriber failed on %s %s", envelope.type, envelope.id)

    return on_next


_lock = threading.Lock()


def default_bus() -> ReactiveEventBus:
    """The process-wide bus every emitted event is published to."""
    with _lock:
        current = publishing.default()
        if not isinstance(current, ReactiveEventBus):
            current = ReactiveEventBus()
            publishing.set_default(current)
        return current
