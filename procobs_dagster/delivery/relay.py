"""The relay: moves events from the outbox to their sinks, at least once.

One cycle per sink: in one short transaction, claim a batch of due events (taking back
expired claims and fanning out new outbox events as needed); deliver outside any
transaction; record the outcomes in a second transaction. A relay that dies between the
two leaves its claim to expire (``lease_seconds``) and be taken again, so an event may be
delivered twice — with the same event id, which receivers dedupe on — but never lost.

    relay = Relay(db, load_sinks_file("sinks.yaml"))
    report = relay.run_once(batch=100)     # one cycle, e.g. from a Dagster job
    relay.drain()                          # cycles until nothing is due
    relay.run()                            # until request_stop() (the CLI's Ctrl-C)
"""

import dataclasses
import datetime as dt
import logging
import os
import random
import socket
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from procobs_dagster.clock import utcnow
from procobs_dagster.delivery import delivery_state
from procobs_dagster.delivery.backoff import backoff_seconds
from procobs_dagster.delivery.config import SinkConfig, unique_names
from procobs_dagster.delivery.sinks import (
    Delivery,
    Outcome,
    OutcomeKind,
    Sink,
    build_sink,
    error_text,
)
from procobs_dagster.errors import ConfigurationError, DatabaseUnreachable
from procobs_dagster.limits import MAX_BATCH, check_count, check_seconds
from procobs_dagster.store.engine import Database

log = logging.getLogger(__name__)

DEFAULT_LEASE_SECONDS = 60.0
# Bounds of the relay's own settings, tighter than limits.MAX_SECONDS: a claim of a relay
# that died is held at most a day, and an idle relay looks for work at least hourly (and
# never busy-loops: NaN and 0 are refused).
MIN_LEASE_SECONDS, MAX_LEASE_SECONDS = 1.0, 24 * 3600.0
MIN_IDLE_SECONDS, MAX_IDLE_SECONDS = 0.01, 3600.0
MAX_FANOUT_LIMIT = 100_000
# A webhook delivery starts only with this many request timeouts of lease left (else the
# lease is renewed first), so no claim expires while its request is still in flight.
LEASE_MARGIN_TIMEOUTS = 2
DEFAULT_FANOUT_LIMIT = 1000
# While a sink's claims come back full, expiry and fan-out run at most this often.
HOUSEKEEPING_SECONDS = 1.0


@dataclasses.dataclass
class SinkCounts:
    """What happened to one sink's deliveries, in a cycle or summed over many."""

    sink: str
    fanned_out: int = 0
    claimed: int = 0
    delivered: int = 0
    retried: int = 0
    rejected: int = 0  # rejections recorded (each is also retried or dead)
    dead: int = 0
    expired: int = 0  # claims of other (dead) relays taken back
    released: int = 0  # claimed but not attempted because the relay was stopping
    lost: int = 0  # outcomes not recorded: the lease had expired and the row was retaken
    # Outcomes the database refused even alone and in a plain form: their rows are left
    # to their lease, then retried (see Relay._record).
    unrecorded: int = 0

    COUNTERS = (
        "fanned_out",
        "claimed",
        "delivered",
        "retried",
        "rejected",
        "dead",
        "expired",
        "released",
        "lost",
        "unrecorded",
    )

    def add(self, other: "SinkCounts") -> None:
        for name in self.COUNTERS:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class RelayReport:
    sinks: dict[str, SinkCounts]

    def total(self, counter: str) -> int:
        return sum(getattr(c, counter) for c in self.sinks.values())

    @property
    def busy(self) -> bool:
        """Did this work find anything to do (then another cycle may too)?"""
        return any(self.total(c) for c in ("fanned_out", "claimed", "expired"))

    def add(self, other: "RelayReport") -> None:
        for name, counts in other.sinks.items():
            self.sinks.setdefault(name, SinkCounts(name)).add(counts)

    def as_dict(self) -> dict[str, Any]:
        return {name: counts.as_dict() for name, counts in self.sinks.items()}


def default_relay_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def _named(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"


# Errors of the database connection itself: the cycle is tried again later as a whole.
# Any other error recording an outcome is about that outcome (see Relay._record).
CONNECTION_ERRORS = (DatabaseUnreachable, sa.exc.OperationalError, sa.exc.InterfaceError)


class Relay:
    """Delivers outbox events to ``sinks`` (configs, built and checked here, or sinks).

    ``clock`` and ``rng`` are injectable so tests can step time and fix the jitter. All
    times written (due, lease, delivered) come from ``clock``: relays sharing a database
    need clocks in step (NTP), as with any lease-based queue.
    """

    def __init__(
        self,
        db: Database,
        sinks: Sequence[SinkConfig | Sink],
        *,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        relay_id: str | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
        rng: random.Random | None = None,
        fanout_limit: int = DEFAULT_FANOUT_LIMIT,
        environ: Mapping[str, str] | None = None,
    ):
        if not sinks:
            raise ConfigurationError("no sinks to deliver to")
        check_seconds(
            lease_seconds, "lease_seconds", minimum=MIN_LEASE_SECONDS, maximum=MAX_LEASE_SECONDS
        )
        check_count(fanout_limit, "fanout_limit", maximum=MAX_FANOUT_LIMIT)
        unique_names([s.config if isinstance(s, Sink) else s for s in sinks], "relay")
        built: list[Sink] = []
        try:
            for sink in sinks:
                built.append(sink if isinstance(sink, Sink) else build_sink(sink, environ))
            for sink in built:
                needed = LEASE_MARGIN_TIMEOUTS * sink.config.timeout_seconds
                if not sink.batched and lease_seconds <= needed:
                    raise ConfigurationError(
                        f"lease of {lease_seconds:g}s is too short for sink {sink.name!r}: "
                        f"it must exceed {LEASE_MARGIN_TIMEOUTS} x timeout = {needed:g}s"
                    )
        except ConfigurationError:
            for sink in built:
                sink.close()
            raise
        self.db = db
        self.sinks = built
        self.lease = dt.timedelta(seconds=lease_seconds)
        self.relay_id = relay_id or default_relay_id()
        self.clock = clock
        self.rng = rng or random.Random()
        self.fanout_limit = fanout_limit
        self._stop = threading.Event()
        # Per sink: when expiry and fan-out last ran, whether the last claim was short,
        # and where the last claim ended in the claim order.
        self._last_expiry: dict[str, dt.datetime] = {}
        self._last_fanout: dict[str, dt.datetime] = {}
        self._short: dict[str, bool] = {}
        self._last_taken: dict[str, delivery_state.ClaimPosition | None] = {}

    # --- control --------------------------------------------------------------------

    def request_stop(self) -> None:
        """Stop after the delivery in flight; claimed rows not yet attempted are released."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()

    def __enter__(self) -> "Relay":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # --- cycles ---------------------------------------------------------------------

    def run_once(self, batch: int = 100) -> RelayReport:
        """One cycle over every sink: claim up to ``batch`` due events (fanning out new
        outbox events when needed), deliver them, record the outcomes."""
        check_count(batch, "batch", maximum=MAX_BATCH)
        return RelayReport({sink.name: self._cycle(sink, batch) for sink in self.sinks})

    def drain(self, batch: int = 100, max_cycles: int | None = None) -> RelayReport:
        """Cycle until nothing is due now (retries scheduled later stay scheduled)."""
        totals = RelayReport({})
        cycles = 0
        while not self.stopping and (max_cycles is None or cycles < max_cycles):
            report = self.run_once(batch)
            totals.add(report)
            cycles += 1
            if not report.busy:
                break
        return totals

    def run(
        self,
        batch: int = 100,
        idle_seconds: float = 1.0,
        on_cycle: Callable[[RelayReport], None] | None = None,
        on_error: Callable[[Exception], None] | None = None,
    ) -> RelayReport:
        """Cycle until ``request_stop()``; sleep ``idle_seconds`` when nothing was due.

        A lost database connection does not end the loop: the error is reported to
        ``on_error`` (and logged) and the cycle is tried again after ``idle_seconds``."""
        check_seconds(
            idle_seconds, "idle_seconds", minimum=MIN_IDLE_SECONDS, maximum=MAX_IDLE_SECONDS
        )
        check_count(batch, "batch", maximum=MAX_BATCH)
        totals = RelayReport({})
        while not self.stopping:
            try:
                report = self.run_once(batch)
            except CONNECTION_ERRORS as exc:
                log.warning("relay %s: database error, retrying: %s", self.relay_id, exc)
                if on_error:
                    on_error(exc)
                self._stop.wait(idle_seconds)
                continue
            totals.add(report)
            if on_cycle:
                on_cycle(report)
            if not report.busy:
                self._stop.wait(idle_seconds)
        return totals

    def _housekeeping_due(self, last: dict[str, dt.datetime], sink: str, now: dt.datetime):
        """Has a sink's housekeeping step not run for HOUSEKEEPING_SECONDS?"""
        previous = last.get(sink)
        return previous is None or (now - previous).total_seconds() >= HOUSEKEEPING_SECONDS

    def _cycle(self, sink: Sink, batch: int) -> SinkCounts:
        """Claim first; fan out when the claim came back short (the sink is catching up)
        or once per HOUSEKEEPING_SECONDS, then claim the rest of the batch. Expired
        leases are taken back when the previous claim was short, or as often, and that
        claim starts at the oldest due row; the others (the claim after a fan-out too)
        start after the last row claimed, so they do not walk the index entries claimed
        rows leave behind until vacuum. A relay draining a backlog thus spends two
        statements per batch, like a raw queue, and a due row the bounded claims pass
        over (another relay held it, or it committed late) waits at most
        HOUSEKEEPING_SECONDS. An ordered sink's claims always start at the oldest due
        row: a successor freed by its predecessor's delivery is due in the next cycle,
        wherever it lies."""
        config = sink.config
        counts = SinkCounts(sink.name)
        now = self.clock()
        expired = delivery_state.Acknowledged()
        after = None if config.ordered else self._last_taken.get(sink.name)
        from_oldest = self._short.get(sink.name, True) or self._housekeeping_due(
            self._last_expiry, sink.name, now
        )
        with self.db.begin() as conn:
            if from_oldest:
                expired = delivery_state.expire_leases(conn, config, now=now)
                after = None
            claim = delivery_state.claim(
                conn,
                config,
                now=now,
                batch=batch,
                lease=self.lease,
                relay_id=self.relay_id,
                with_events=sink.reads_events,
                after=after,
            )
            short = len(claim.deliveries) < batch
            if short or self._housekeeping_due(self._last_fanout, sink.name, now):
                limit = max(self.fanout_limit, batch)
                counts.fanned_out = delivery_state.fan_out(conn, config, now=now, limit=limit)
                self._last_fanout[sink.name] = now
                if counts.fanned_out and short:
                    more = delivery_state.claim(
                        conn,
                        config,
                        now=now,
                        batch=batch - len(claim.deliveries),
                        lease=self.lease,
                        relay_id=self.relay_id,
                        token=claim.token,
                        with_events=sink.reads_events,
                        # The rows just fanned out come after what was claimed.
                        after=None if config.ordered else claim.last_taken or after,
                    )
                    claim = dataclasses.replace(
                        claim,
                        deliveries=claim.deliveries + more.deliveries,
                        last_taken=max(
                            filter(None, (claim.last_taken, more.last_taken)), default=None
                        ),
                    )
        if from_oldest:
            # Counted from its end: when vacuum is held back and such a claim grows slow,
            # the bounded claims still get the time between two of them.
            self._last_expiry[sink.name] = self.clock()
        self._short[sink.name] = len(claim.deliveries) < batch
        self._last_taken[sink.name] = claim.last_taken
        counts.expired = expired.retried + expired.dead
        counts.dead += expired.dead
        counts.claimed = len(claim.deliveries)
        if not claim.deliveries:
            return counts
        outcomes, unattempted, claim, lost = self._deliver(sink, claim)
        now = self.clock()
        delays = {
            d.event_id: backoff_seconds(
                d.attempt,
                config.backoff_base_seconds,
                config.backoff_cap_seconds,
                self.rng,
                o.retry_after_seconds,
            )
            for d, o in outcomes
            if o.kind is not OutcomeKind.DELIVERED
        }
        acked, counts.released, counts.unrecorded = self._record(
            config, claim, outcomes, unattempted, now=now, delays=delays
        )
        counts.delivered = acked.delivered
        counts.retried = acked.retried
        counts.rejected = acked.rejected
        counts.dead += acked.dead
        counts.lost = lost + acked.lost
        if acked.dead:
            log.warning("sink %s: %d deliveries are dead", sink.name, acked.dead)
        return counts

    def _record(
        self,
        config: SinkConfig,
        claim: delivery_state.Claim,
        outcomes: list[tuple[Delivery, Outcome]],
        unattempted: list[uuid.UUID],
        *,
        now: dt.datetime,
        delays: dict[uuid.UUID, float],
    ) -> tuple[delivery_state.Acknowledged, int, int]:
        """Record the outcomes and release the unattempted rows: (acknowledged, released,
        unrecorded).

        All in one transaction as a rule. Should the database refuse that for a reason
        other than the connection (a value one row cannot hold, a bug), each outcome is
        recorded alone, so one bad row holds back no other; an outcome refused even alone
        is recorded as a plain retry after its backoff (the attempt counts, so the sink's
        ``dead_after_attempts`` still ends it). Only if that fails too is the row left to
        its lease. No row stays ``delivering`` past its lease, the relay does not stop,
        and an event is never settled without an answer from its sink."""
        try:
            with self.db.begin() as conn:
                acked = delivery_state.acknowledge(
                    conn, claim, outcomes, config=config, now=now, delays=delays
                )
                released = delivery_state.release(conn, claim, unattempted, now=now)
            return acked, released, 0
        except CONNECTION_ERRORS:
            raise
        except Exception:
            log.exception(
                "sink %s: recording %d outcome(s) together failed; recording each alone",
                config.name,
                len(outcomes),
            )
        total, unrecorded = delivery_state.Acknowledged(), 0
        for delivery, outcome in outcomes:
            acked = self._record_alone(config, claim, delivery, outcome, now, delays)
            if acked is None:
                unrecorded += 1
            else:
                total = total + acked
        with self.db.begin() as conn:
            released = delivery_state.release(conn, claim, unattempted, now=now)
        return total, released, unrecorded

    def _record_alone(
        self,
        config: SinkConfig,
        claim: delivery_state.Claim,
        delivery: Delivery,
        outcome: Outcome,
        now: dt.datetime,
        delays: dict[uuid.UUID, float],
    ) -> delivery_state.Acknowledged | None:
        """One outcome in its own transaction; if refused, a plain retry in its place;
        None if that is refused too."""
        delay = delays.get(delivery.event_id) or backoff_seconds(
            delivery.attempt, config.backoff_base_seconds, config.backoff_cap_seconds, self.rng
        )

        def record(recorded: Outcome) -> delivery_state.Acknowledged:
            with self.db.begin() as conn:
                return delivery_state.acknowledge(
                    conn,
                    claim,
                    [(delivery, recorded)],
                    config=config,
                    now=now,
                    delays={delivery.event_id: delay},
                )

        try:
            return record(outcome)
        except CONNECTION_ERRORS:
            raise
        except Exception as exc:
            log.exception(
                "sink %s: event %s: its outcome was refused", config.name, delivery.event_id
            )
            plain = Outcome(
                OutcomeKind.RETRY,
                f"the {outcome.kind.value} outcome could not be recorded "
                f"({type(exc).__name__}); to be delivered again",
            )
        try:
            return record(plain)
        except CONNECTION_ERRORS:
            raise
        except Exception:
            log.exception(
                "sink %s: event %s: not even a retry could be recorded; its lease will expire",
                config.name,
                delivery.event_id,
            )
            return None

    def _deliver(
        self, sink: Sink, claim: delivery_state.Claim
    ) -> tuple[list[tuple[Delivery, Outcome]], list[uuid.UUID], delivery_state.Claim, int]:
        """Attempt the claimed deliveries: (outcomes, unattempted ids, claim, lost)."""
        deliveries, outcomes = self._render(sink, claim.deliveries)
        if sink.batched:
            if deliveries:
                outcomes += self._deliver_batch(sink, deliveries)
            return outcomes, [], claim, 0
        waiting = list(deliveries)
        lost = 0
        margin = dt.timedelta(seconds=LEASE_MARGIN_TIMEOUTS * sink.config.timeout_seconds)
        while waiting and not self.stopping:
            if claim.locked_until - self.clock() < margin:
                ids = [d.event_id for d in waiting]
                with self.db.begin() as conn:
                    claim, held = delivery_state.renew(
                        conn, claim, ids, now=self.clock(), lease=self.lease
                    )
                lost += sum(d.event_id not in held for d in waiting)
                waiting = [d for d in waiting if d.event_id in held]
                continue
            delivery = waiting.pop(0)
            outcomes.append((delivery, self._deliver_one(sink, delivery)))
        return outcomes, [d.event_id for d in waiting], claim, lost

    @staticmethod
    def _deliver_one(sink: Sink, delivery: Delivery) -> Outcome:
        """The sink's outcome; a sink that raises (it must not: failures are outcomes)
        rejects the event, so a fault that recurs with it ends in dead, where an operator
        sees it, instead of stopping the relay for every event."""
        try:
            return sink.deliver(delivery)
        except Exception as exc:
            log.exception("sink %s raised delivering event %s", sink.name, delivery.event_id)
            return Outcome(OutcomeKind.REJECTED, error_text(f"the sink failed: {_named(exc)}"))

    def _deliver_batch(
        self, sink: Sink, deliveries: list[Delivery]
    ) -> list[tuple[Delivery, Outcome]]:
        """A batched sink's outcomes; if it raises (or answers for the wrong number of
        events), each event is tried alone, so one faulty event is told from the rest."""
        try:
            return list(zip(deliveries, sink.deliver_batch(deliveries), strict=True))
        except Exception:
            log.exception(
                "sink %s failed a batch of %d; trying each alone", sink.name, len(deliveries)
            )
        return [(d, self._deliver_one(sink, d)) for d in deliveries]

    @staticmethod
    def _render(
        sink: Sink, deliveries: Sequence[Delivery]
    ) -> tuple[list[Delivery], list[tuple[Delivery, Outcome]]]:
        """Build each body before sending; an outbox row that is no valid envelope can
        never be sent and is rejected (towards dead) instead of stopping the relay."""
        if not sink.reads_events:
            return list(deliveries), []
        ready, rejected = [], []
        for delivery in deliveries:
            try:
                delivery.body  # noqa: B018 — rendered and cached for the sink
            except Exception as exc:
                error = f"outbox row is not a valid event: {exc.__class__.__name__}"
                rejected.append((delivery, Outcome(OutcomeKind.REJECTED, error)))
            else:
                ready.append(delivery)
        return ready, rejected
