"""Handing emitted events to in-process subscribers, after their transaction commits.

``events.emit`` writes the outbox and audit_log rows in the caller's transaction and
schedules the envelope's publication for after the commit (``store.engine.after_commit``):
a subscriber never sees an event that could still roll back, and never before it is
durable in the audit log. Publication needs a transaction opened by ``Database.begin``;
events written in any other transaction are in the outbox and the audit log but are not
published in-process.

The process-wide bus (``bus.default_bus()``) registers itself here when first asked for;
until then there is no subscriber and nothing to publish.
"""

import functools
import logging
from typing import Protocol

from sqlalchemy.engine import Connection

from procobs_dagster.events.envelope import Envelope
from procobs_dagster.store.engine import after_commit

log = logging.getLogger(__name__)


class Publisher(Protocol):
    def publish(self, envelope: Envelope) -> None: ...


_default: Publisher | None = None


def set_default(publisher: Publisher | None) -> None:
    global _default
    _default = publisher


def default() -> Publisher | None:
    return _default


def publish_after_commit(
    conn: Connection, envelope: Envelope, publisher: Publisher | None = None
) -> None:
    publisher = publisher if publisher is not None else _default
    if publisher is None:
        return
    if not after_commit(conn, functools.partial(publisher.publish, envelope)):
        log.debug("event %s not published: its transaction is not Database.begin's", envelope.id)
