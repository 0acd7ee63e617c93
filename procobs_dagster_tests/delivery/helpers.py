"""Test helpers for delivery: emit events, a steppable clock, and a real HTTP receiver."""

import dataclasses
import datetime as dt
import http.server
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
import yaml

from procobs_dagster import events
from procobs_dagster.delivery import SinkConfig
from procobs_dagster.delivery.signature import SIGNATURE_HEADER
from procobs_dagster.store.tables import delivery_state
from procobs_dagster_tests.events.helpers import set_active

EVENT_TYPE = "process.run.started"
SECRET_ENV = "PROCOBS_TEST_WEBHOOK_SECRET"
SECRET = "test-secret-3f9a1c"


def emit_events(
    db, count: int, correlation: "str | Callable[[int], str]" = "corr"
) -> list[uuid.UUID]:
    """Activate the test type and emit ``count`` events, one transaction each."""
    set_active(db, EVENT_TYPE)
    ids = []
    for i in range(count):
        corr = correlation(i) if callable(correlation) else correlation
        payload = {
            "process_run_id": str(uuid.uuid4()),
            "correlation_id": corr,
            "status": "started",
            "evidence_type": "RUNTIME",
        }
        with db.begin() as conn:
            ids.append(events.emit(conn, EVENT_TYPE, payload, correlation_id=corr).id)
    return ids


def states(db, sink: str | None = None) -> dict[uuid.UUID, dict]:
    query = sa.select(delivery_state)
    if sink is not None:
        query = query.where(delivery_state.c.sink == sink)
    with db.read() as conn:
        return {r["event_id"]: dict(r) for r in conn.execute(query).mappings()}


def state_counts(db, sink: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in states(db, sink).values():
        counts[row["state"]] = counts.get(row["state"], 0) + 1
    return counts


class FakeClock:
    """A clock tests move by hand; starts at the real now."""

    def __init__(self, start: dt.datetime | None = None):
        self.now = start or dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


def webhook_config(url: str, **overrides) -> SinkConfig:
    settings = {
        "name": "hook",
        "kind": "webhook",
        "url": url,
        "secret_env": SECRET_ENV,
        "timeout_seconds": 2.0,
        "backoff_base_seconds": 1.0,
        "backoff_cap_seconds": 8.0,
        **overrides,
    }
    return SinkConfig(**settings)


@dataclasses.dataclass(frozen=True)
class Request:
    event_id: str
    headers: dict[str, str]
    body: bytes
    started: float
    finished: float
    status: int


class Receiver:
    """A threaded HTTP server on localhost standing in for a webhook endpoint.

    ``respond(event_id, body)`` returns the status to answer (default 200), or
    (status, headers), or (status, headers, reply body). Every request is recorded with
    the time it was being handled, so tests can look for overlapping deliveries of one
    event.

    ``hold_until_in_flight = N`` holds every request until N have been in flight at once
    (after HOLD_SECONDS without, it stops holding): two relays that can work at the same
    time then certainly do, whatever the machine's load, and two that cannot never reach N."""

    HOLD_SECONDS = 10.0

    def __init__(self, delay: float = 0.0):
        self.delay = delay
        self.hold_until_in_flight = 0
        self.respond: Callable[[str, bytes], int | tuple] = lambda _event_id, _body: 200
        self.requests: list[Request] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._in_flight_changed = threading.Condition(self._lock)
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                started = time.monotonic()
                with receiver._in_flight_changed:
                    receiver.in_flight += 1
                    receiver.max_in_flight = max(receiver.max_in_flight, receiver.in_flight)
                    receiver._in_flight_changed.notify_all()
                    if not receiver._in_flight_changed.wait_for(
                        lambda: receiver.max_in_flight >= receiver.hold_until_in_flight,
                        timeout=receiver.HOLD_SECONDS,
                    ):
                        receiver.hold_until_in_flight = 0  # never together: stop holding
                expected = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(expected)
                if len(body) < expected:  # the sender died mid-request: no delivery
                    with receiver._lock:
                        receiver.in_flight -= 1
                    return
                event_id = self.headers.get("ce-id", "")
                if receiver.delay:
                    time.sleep(receiver.delay)
                answer = receiver.respond(event_id, body)
                status, headers, *reply = answer if isinstance(answer, tuple) else (answer, {})
                # Recorded before the reply is sent: once the relay has its answer, the
                # test may look at what was received.
                with receiver._lock:
                    receiver.in_flight -= 1
                    receiver.requests.append(
                        Request(
                            event_id,
                            {k.lower(): v for k, v in self.headers.items()},
                            body,
                            started,
                            time.monotonic(),
                            status,
                        )
                    )
                reply = reply[0] if reply else json.dumps({"status": status}).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # a relay killed mid-request resets its connection: expected here

        self.server = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/hooks/procobs"

    def received(self, status: int | None = None) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if status is None or r.status == status]

    def event_ids(self, status: int | None = 200) -> list[str]:
        return [r.event_id for r in self.received(status)]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def signature_of(request: Request) -> str:
    return request.headers[SIGNATURE_HEADER.lower()]


def write_sinks_file(path, *configs: SinkConfig):
    """A sinks YAML file for relays started as separate processes."""
    entries = [c.model_dump(mode="json", exclude_defaults=True) for c in configs]
    for entry, config in zip(entries, configs, strict=True):
        entry.update(name=config.name, kind=config.kind)
    path.write_text(yaml.safe_dump({"sinks": entries}))
    return path


def spawn_relay(db, sinks_file, *args: str) -> "subprocess.Popen[str]":
    """`procobs relay run` in its own process, as an operator would start it."""
    procobs = Path(sys.executable).with_name("procobs")
    url = db.url.render_as_string(hide_password=False)
    command = [str(procobs), "--database-url", url, "relay", "run", "--sinks", str(sinks_file)]
    return subprocess.Popen(
        [*command, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, SECRET_ENV: SECRET},
    )


def wait_until(condition: Callable[[], bool], timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(0.02)
