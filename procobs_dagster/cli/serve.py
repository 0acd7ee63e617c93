"""`procobs serve`: the OpenLineage receiver over HTTP."""

import contextlib
import datetime as dt
import logging
import signal
import socket
from pathlib import Path

import click
import uvicorn

from procobs_dagster.cli import params
from procobs_dagster.cli.context import CliContext, pass_cli
from procobs_dagster.cli.discovery import catalog_option, load
from procobs_dagster.cli.output import say
from procobs_dagster.errors import ConfigurationError
from procobs_dagster.sources.openlineage import receiver
from procobs_dagster.sources.workflow_ledger import DEFAULT_PARENT_GRACE

MAX_BODY_LIMIT = 256 * 1024 * 1024
MAX_GRACE_SECONDS = 7 * 24 * 3600


@click.command()
@click.option(
    "--host",
    type=params.IDENTIFIER,
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on.",
)
@click.option("--port", type=click.IntRange(1, 65535), default=5000, show_default=True)
@click.option(
    "--max-body-bytes",
    type=click.IntRange(1024, MAX_BODY_LIMIT),
    default=receiver.DEFAULT_MAX_BODY_BYTES,
    show_default=True,
    help="Largest request body accepted, as sent and decompressed (else 413).",
)
@click.option(
    "--parent-grace",
    type=click.IntRange(0, MAX_GRACE_SECONDS),
    default=int(DEFAULT_PARENT_GRACE.total_seconds()),
    show_default=True,
    help="Seconds a run waits for the parent its events name before it is placed on its own.",
)
@catalog_option
@pass_cli
def serve(
    cli: CliContext,
    host: str,
    port: int,
    max_body_bytes: int,
    parent_grace: int,
    catalog_path: Path | None,
) -> None:
    """Receive OpenLineage events over HTTP: POST /api/v1/lineage, GET /healthz.

    API keys come from PROCOBS_API_KEYS (comma-separated; clients send
    `Authorization: Bearer <key>`). Without keys only a loopback address is served."""
    keys = receiver.api_keys_from_env()
    receiver.check_bind(host, keys)
    db = cli.ready_database()
    config = receiver.ReceiverConfig(
        catalog=load(catalog_path),
        api_keys=keys,
        max_body_bytes=max_body_bytes,
        parent_grace=dt.timedelta(seconds=parent_grace),
    )
    listening = _listen(host, port)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # /healthz reads the schema revision: Alembic's "Context impl" line on every probe.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    say(
        f"procobs serve: {db.display_url}, {len(keys)} API key(s), "
        f"POST http://{_address(host, port)}{receiver.ENDPOINT}",
        err=True,
    )
    server = uvicorn.Server(
        uvicorn.Config(
            receiver.create_app(db, config),
            host=host,
            port=port,
            access_log=False,  # the receiver logs one line per request itself
            log_level="info",
            server_header=False,
        )
    )
    # uvicorn shuts down on Ctrl-C or SIGTERM, then raises the signal again: stopping is
    # how serve ends, so both end it cleanly (exit 0), not as interrupted or killed.
    previous = signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            server.run(sockets=listening)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _listen(host: str, port: int) -> list[socket.socket]:
    """Listening sockets on every address ``host`` resolves to (``localhost``: 127.0.0.1
    and ::1), as asyncio would bind them, but bound here: a port in use is a one-line
    refusal (exit 1), not uvicorn's startup failure (its exit 3 reads as "database
    unreachable")."""
    sockets: list[socket.socket] = []
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        for family, kind, protocol, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, protocol)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(socket.SOMAXCONN)
    except (OSError, UnicodeError) as exc:  # UnicodeError: a name IDNA cannot encode
        for sock in sockets:
            sock.close()
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise ConfigurationError(f"cannot listen on {_address(host, port)}: {reason}") from None
    return sockets
