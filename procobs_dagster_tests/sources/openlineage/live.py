"""A running receiver for tests: the ASGI app under uvicorn, on a free loopback port, in a
thread of the test process (``LiveReceiver``) or as the real ``procobs serve`` command in a
process of its own (``served``)."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx

from procobs_dagster.discovery.catalog import EMPTY_CATALOG
from procobs_dagster.sources.openlineage import receiver
from procobs_dagster.store.engine import Database

KEY = "test-key-0123456789abcdef"
STARTUP_SECONDS = receiver.STARTUP_SECONDS


class LiveReceiver:
    def __init__(self, db: Database, *, api_keys: Sequence[str] = (KEY,), **config):
        self._running = contextlib.ExitStack()
        self.url = self._running.enter_context(
            receiver.serving(
                db,
                receiver.ReceiverConfig(
                    catalog=EMPTY_CATALOG,
                    api_keys=tuple(api_keys),
                    **{"settle_every_seconds": 0, **config},
                ),
            )
        )

    @property
    def endpoint(self) -> str:
        return self.url + receiver.ENDPOINT

    def post(self, content: bytes | str, *, key: str | None = KEY, **headers) -> httpx.Response:
        headers = {"Content-Type": "application/json", **headers}
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        return httpx.post(self.endpoint, content=content, headers=headers, timeout=30)

    def stop(self) -> None:
        self._running.close()


@contextlib.contextmanager
def live(db: Database, **options) -> Iterator[LiveReceiver]:
    server = LiveReceiver(db, **options)
    try:
        yield server
    finally:
        server.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def served(
    db: Database, *args: str, api_keys: str = KEY, stop: int = signal.SIGINT
) -> Iterator[subprocess.Popen]:
    """``procobs serve`` itself, in a process of its own, stopped by ``stop`` (Ctrl-C, or
    a service manager's SIGTERM); yields the process, its base URL as ``process.url``."""
    port = free_port()
    env = {**os.environ, receiver.API_KEYS_ENV: api_keys}
    url = db.url.render_as_string(hide_password=False)
    command = [str(Path(sys.executable).with_name("procobs")), "--database-url", url]
    process = subprocess.Popen(
        [*command, "serve", "--port", str(port), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"procobs serve exited: {process.stdout.read()}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(base + receiver.HEALTH, timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("procobs serve did not answer /healthz")
            time.sleep(0.1)
        process.url = base
        yield process
    finally:
        process.send_signal(stop)
        process.wait(timeout=STARTUP_SECONDS)
