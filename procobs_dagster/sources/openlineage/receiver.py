"""The OpenLineage HTTP receiver (``procobs serve``): an ASGI app on Starlette.

``POST /api/v1/lineage`` — the HTTP transport's default endpoint — takes one event or a
JSON array of up to ``MAX_BATCH_EVENTS``, plain or gzip-encoded, and answers

- 200 with the counts (``received``, ``events`` new, ``duplicates``, ``ignored`` …) once
  the batch is committed;
- 400 ``{"error": "…"}`` when the body is not JSON or an event is not one procobs
  accepts — nothing of the batch is written;
- 401 when API keys are configured and no ``Authorization: Bearer <key>`` names one;
- 404 for another path, 405 for a method the path does not take (``Allow`` names them);
- 413 when the body, as sent or decompressed, passes ``max_body_bytes`` (refused while
  reading it); 415 when the ``Content-Type`` is missing or not ``application/json``
  (``; charset=utf-8`` may follow, no other charset), or the body is encoded other than
  gzip;
- 503 with ``Retry-After`` while the database is unreachable: nothing was written, the
  client sends it again.

``GET /healthz`` answers 200 when the database is reachable and at this code's schema,
else 503. Each request is logged on one line (never a key). In the background, runs held
longer than the parent grace for a parent that never arrived are placed on their own.
"""

import asyncio
import contextlib
import dataclasses
import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import logging
import os
import socket
import threading
import time
import zlib
from collections.abc import Iterator, Mapping, Sequence

import anyio
import sqlalchemy as sa
import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from procobs_dagster.discovery.catalog import Catalog
from procobs_dagster.errors import (
    ConfigurationError,
    DatabaseUnreachable,
    InvalidInput,
    SchemaNotReady,
)
from procobs_dagster.input_files import parse_json
from procobs_dagster.limits import shown
from procobs_dagster.sources import workflow_ledger
from procobs_dagster.sources.openlineage.intake import accept, batch_of
from procobs_dagster.store.engine import Database
from procobs_dagster.store.migrate import ensure_current, head_revision

log = logging.getLogger("procobs.serve")

ENDPOINT = "/api/v1/lineage"
HEALTH = "/healthz"
API_KEYS_ENV = "PROCOBS_API_KEYS"
MIN_KEY_LENGTH = 16
DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
RETRY_AFTER_SECONDS = 5
DEFAULT_SETTLE_EVERY_SECONDS = 60.0
SETTLE_BATCH = 500
STARTUP_SECONDS = 90
# Requests writing at once, each on a pooled connection: fewer than the engine's pool holds
# (5, plus 10 overflow), so a burst waits its turn here instead of timing out on the pool.
DATABASE_WORKERS = 8


@dataclasses.dataclass(frozen=True)
class ReceiverConfig:
    catalog: Catalog
    api_keys: tuple[str, ...] = ()
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    parent_grace: dt.timedelta = workflow_ledger.DEFAULT_PARENT_GRACE
    settle_every_seconds: float = DEFAULT_SETTLE_EVERY_SECONDS

    def __repr__(self) -> str:  # never show the keys
        return f"ReceiverConfig(keys={len(self.api_keys)}, max_body_bytes={self.max_body_bytes})"


def api_keys_from_env(environ: Mapping[str, str] = os.environ) -> tuple[str, ...]:
    """The keys in ``PROCOBS_API_KEYS`` (comma-separated). A key is at least
    ``MIN_KEY_LENGTH`` characters of printable ASCII without spaces; the error names the
    key by its position, never by its value."""
    keys = tuple(key.strip() for key in environ.get(API_KEYS_ENV, "").split(",") if key.strip())
    for position, key in enumerate(keys, start=1):
        if len(key) < MIN_KEY_LENGTH:
            raise ConfigurationError(
                f"{API_KEYS_ENV}: key {position} is shorter than {MIN_KEY_LENGTH} characters"
            )
        # A header is ASCII: a key of other characters is sent as UTF-8 by some clients,
        # as Latin-1 by others, refused by others, so it would match for no one.
        if not (key.isascii() and key.isprintable()) or " " in key:
            raise ConfigurationError(
                f"{API_KEYS_ENV}: key {position} holds a character other than printable "
                "ASCII (a space, a control character or a letter outside ASCII)"
            )
    return keys


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name other than localhost may resolve anywhere


def check_bind(host: str, api_keys: Sequence[str]) -> None:
    """Without keys, only this machine may send events."""
    if not api_keys and not is_loopback(host):
        raise ConfigurationError(
            f"no API keys configured ({API_KEYS_ENV}): refusing to listen on {host}, which is "
            "not a loopback address; set keys or listen on 127.0.0.1"
        )


def authorised(header: str | None, api_keys: Sequence[str]) -> bool:
    """``Authorization: Bearer <key>`` naming a configured key (any, when none is).
    Digests of equal length are compared in constant time, against every key."""
    if not api_keys:
        return True
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return False
    offered = hashlib.sha256(token.strip().encode()).digest()
    matched = False
    for key in api_keys:
        matched |= hmac.compare_digest(offered, hashlib.sha256(key.encode()).digest())
    return matched


def content_type_problem(header: str | None) -> str | None:
    """What is wrong with a request's ``Content-Type`` for a JSON body, or None:
    ``application/json``, with no parameter or ``charset=utf-8`` (the body is read as
    UTF-8, which JSON is, RFC 8259). A missing header is refused too: a body of unknown
    kind (a form, an upload) is not guessed to be JSON."""
    if header is None or not header.strip():
        return "no Content-Type header"
    media, *parameters = header.split(";")
    quoted = shown(header.strip())
    if media.strip().lower() != "application/json":
        return f"content-type {quoted}"
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        name, value = name.strip().lower(), value.strip().strip('"').lower()
        if name == "charset" and value not in ("utf-8", "utf8"):
            return f"content-type {quoted} names a charset other than UTF-8"
    return None


class _Refused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _declared_length(header: str | None) -> int | None:
    """The ``Content-Length`` as a number, or None when there is none to judge by. The
    HTTP parser takes any number of leading zeros, and int() refuses text of more than
    4300 digits, so the length is read from its significant digits (a 64-bit length has
    at most 20; the parser refuses more, and a longer one is capped to 10**20)."""
    if header is None or not (header.isascii() and header.isdigit()):
        return None
    digits = header.lstrip("0") or "0"
    return int(digits) if len(digits) <= 20 else 10**20


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, decompressed, refused (413) as soon as it passes ``limit`` bytes either as
    sent or decompressed — never read to the end first."""
    declared = _declared_length(request.headers.get("content-length"))
    if declared is not None and declared > limit:
        raise _Refused(413, f"the body is {declared} bytes, more than the limit of {limit}")
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("identity", "gzip"):
        raise _Refused(415, f"content-encoding {encoding[:40]!r}: send identity or gzip")
    problem = content_type_problem(request.headers.get("content-type"))
    if problem is not None:
        raise _Refused(415, f"{problem}: send application/json")
    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS) if encoding == "gzip" else None
    sent, body = 0, bytearray()
    too_large = _Refused(413, f"the body is more than the limit of {limit} bytes")
    try:
        async for chunk in request.stream():
            sent += len(chunk)
            if sent > limit:
                raise too_large
            if inflate is None:
                body += chunk
            else:
                data = chunk
                while data:
                    body += inflate.decompress(data, limit + 1 - len(body))
                    if len(body) > limit:
                        raise too_large
                    if not inflate.eof:
                        data = inflate.unconsumed_tail
                        continue
                    # A gzip body may hold several members (RFC 1952): each is read, and
                    # bytes after the last that are no member are refused, never dropped.
                    data = inflate.unused_data
                    if data:
                        inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        if inflate is not None:
            body += inflate.flush()
            if not inflate.eof:
                raise _Refused(400, "the gzip body is truncated")
    except zlib.error:
        raise _Refused(400, "the body is not valid gzip") from None
    if len(body) > limit:
        raise too_large
    return bytes(body)


def _accept_body(db: Database, body: bytes, config: ReceiverConfig) -> dict[str, int]:
    """Parse, check and write a body (in a worker thread: all of it blocks)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("the body is not UTF-8 JSON") from None
    # Read as strictly as a line of `procobs workflow ingest`: finite numbers, 64-bit
    # integers, each event nested no deeper than a line may be.
    document = parse_json(text, "the body", array_of_documents=True)
    batch = batch_of(document)
    report = workflow_ledger.in_transaction(
        db, lambda conn: accept(conn, batch, catalog=config.catalog)
    )
    return report.as_dict()


def _database_unavailable(exc: BaseException) -> bool:
    if isinstance(exc, DatabaseUnreachable | SchemaNotReady | sa.exc.TimeoutError):
        return True
    if isinstance(exc, sa.exc.DBAPIError):
        return exc.connection_invalidated or isinstance(
            exc, sa.exc.OperationalError | sa.exc.InterfaceError
        )
    return False


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def create_app(db: Database, config: ReceiverConfig) -> Starlette:
    workers = anyio.CapacityLimiter(DATABASE_WORKERS)

    async def blocking(function, *args):
        return await anyio.to_thread.run_sync(function, *args, limiter=workers)

    async def lineage(request: Request) -> JSONResponse:
        started = time.perf_counter()
        client = f"{request.client.host}:{request.client.port}" if request.client else "-"

        def answer(status: int, content: dict, note: str, headers=None) -> JSONResponse:
            elapsed = (time.perf_counter() - started) * 1000
            log.info("POST %s %d %s %.1f ms from %s", ENDPOINT, status, note, elapsed, client)
            return JSONResponse(content, status_code=status, headers=headers)

        def refuse(status: int, message: str, headers=None) -> JSONResponse:
            message = _one_line(message)
            return answer(status, {"error": message}, json.dumps(message), headers)

        if not authorised(request.headers.get("authorization"), config.api_keys):
            return refuse(401, "missing or invalid API key", {"WWW-Authenticate": "Bearer"})
        try:
            body = await _read_body(request, config.max_body_bytes)
            counts = await blocking(_accept_body, db, body, config)
        except _Refused as exc:
            return refuse(exc.status, str(exc))
        except InvalidInput as exc:
            return refuse(400, str(exc))
        except Exception as exc:
            if not _database_unavailable(exc):
                raise
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
            return refuse(
                503,
                f"the database is unavailable, nothing was written: {reason[0] if reason else ''}",
                {"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        note = " ".join(f"{name}={value}" for name, value in counts.items() if value)
        return answer(200, counts, note or "empty")

    async def health(request: Request) -> JSONResponse:
        try:
            await blocking(ensure_current, db)
        except Exception as exc:
            if not _database_unavailable(exc):
                raise
            return JSONResponse(
                {"status": "unavailable", "error": _one_line(str(exc))}, status_code=503
            )
        return JSONResponse({"status": "ok", "schema": head_revision()})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        settler = None
        if config.settle_every_seconds > 0:
            settler = asyncio.create_task(_settle_forever(db, config, blocking))
        try:
            yield
        finally:
            if settler is not None:
                settler.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await settler

    async def not_routed(request: Request, exc: HTTPException) -> JSONResponse:
        """Starlette's own refusals (no such path, a method the path does not take) as
        every other: a one-line JSON error, logged."""
        path = shown(request.url.path)
        if exc.status_code == 405:
            allowed = ", ".join(sorted((exc.headers or {}).get("Allow", "").split(", ")))
            message = f"{request.method} is not allowed on {path[1:-1]}: use {allowed}"
        elif exc.status_code == 404:
            message = (
                f"no endpoint {path[1:-1]}: POST {ENDPOINT} takes events, GET {HEALTH} "
                "says whether the database is ready"
            )
        else:
            message = _one_line(exc.detail)
        log.info(
            "%s %s %d %s from %s",
            shown(request.method, 20)[1:-1],
            path[1:-1],
            exc.status_code,
            json.dumps(message),
            f"{request.client.host}:{request.client.port}" if request.client else "-",
        )
        return JSONResponse({"error": message}, status_code=exc.status_code, headers=exc.headers)

    return Starlette(
        routes=[
            Route(ENDPOINT, lineage, methods=["POST"]),
            Route(HEALTH, health, methods=["GET"]),
        ],
        exception_handlers={HTTPException: not_routed},
        lifespan=lifespan,
    )


async def _settle_forever(db: Database, config: ReceiverConfig, blocking) -> None:
    """Every ``settle_every_seconds``, place the runs whose parent never arrived."""

    def settle() -> workflow_ledger.RecordReport:
        return workflow_ledger.in_transaction(
            db,
            lambda conn: workflow_ledger.settle_held(
                conn, catalog=config.catalog, grace=config.parent_grace, limit=SETTLE_BATCH
            ),
        )

    while True:
        await asyncio.sleep(config.settle_every_seconds)
        try:
            report = await blocking(settle)
        except Exception as exc:
            log.warning("settling held runs failed, trying again later: %s", _one_line(exc))
            continue
        if report.runs_placed:
            log.info("placed %d run(s) whose parent never arrived", report.parent_missing)


@contextlib.contextmanager
def serving(db: Database, config: ReceiverConfig, host: str = "127.0.0.1") -> Iterator[str]:
    """The receiver under uvicorn in a thread of this process, on a free port of ``host``,
    while the block runs; yields its base URL (``procobs serve`` runs the same app in the
    foreground). Raises RuntimeError when it does not start."""
    check_bind(host, config.api_keys)
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(db, config),
            log_level="warning",
            access_log=False,
            lifespan="on",
            server_header=False,
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError(f"the receiver did not start on {host}:{port}")
            time.sleep(0.01)
        yield f"http://{f'[{host}]' if ':' in host else host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=STARTUP_SECONDS)
        sock.close()
