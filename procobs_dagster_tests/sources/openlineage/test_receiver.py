"""`procobs serve`: the real OpenLineage client (HTTP transport, API-key auth) and plain
HTTP against the receiver, on both databases."""

import asyncio
import datetime as dt
import gzip
import json
import logging
import signal
import socket
import time

import httpx
import pytest
import requests
import sqlalchemy as sa
from openlineage.client.event_v2 import RunState

from procobs_dagster import discovery
from procobs_dagster.discovery.catalog import EMPTY_CATALOG
from procobs_dagster.limits import MAX_JSON_DEPTH, json_depth_problem
from procobs_dagster.sources.openlineage import receiver
from procobs_dagster.store import migrate
from procobs_dagster.store.tables import (
    process_component_observation,
    process_run_observation,
    workflow_event,
    workflow_run,
)
from procobs_dagster_tests.sources.helpers import NS, ledger_snapshot, ol_event, run_id
from procobs_dagster_tests.sources.openlineage.client_events import client, dag_with_two_tasks
from procobs_dagster_tests.sources.openlineage.live import KEY, live, served


def counts(db) -> tuple[int, ...]:
    tables = (workflow_event, workflow_run, process_run_observation, process_component_observation)
    with db.read() as conn:
        return tuple(
            conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one() for t in tables
        )


def snapshot(db) -> dict:
    with db.read() as conn:
        return ledger_snapshot(conn)


def test_the_client_puts_a_dag_run_into_the_ledger_through_procobs_serve(db):
    dag, events = dag_with_two_tasks()
    with served(db) as server:
        sender = client(server.url, KEY)
        for event in events:
            sender.emit(event)
    assert server.returncode == 0  # Ctrl-C is how serve stops: a clean exit
    runs = snapshot(db)
    assert runs[dag]["status"] == "completed"
    assert sorted(r["dot_code"] for k, r in runs.items() if k != dag) == ["etl.extract", "etl.load"]
    with db.read() as conn:
        score = discovery.score_of(conn, EMPTY_CATALOG, f"PROC-CAND:workflow:{NS}/etl")
    assert score.status == "verified_candidate"
    assert score.proving_run_id is not None


def test_procobs_serve_stopped_by_a_service_manager_exits_cleanly(db):
    with served(db, stop=signal.SIGTERM) as server:
        assert httpx.get(server.url + "/healthz", timeout=5).status_code == 200
    assert server.returncode == 0


@pytest.mark.parametrize(
    ("end", "status"), [(RunState.FAIL, "failed"), (RunState.ABORT, "cancelled")]
)
def test_fail_and_abort_from_the_client(db, end, status):
    dag, events = dag_with_two_tasks(end)
    with live(db) as server:
        sender = client(server.url, KEY)
        for event in events:
            sender.emit(event)
    runs = snapshot(db)
    assert {r["status"] for r in runs.values()} == {status}
    errors = {r["error"] for k, r in runs.items() if k != dag}
    assert errors == ({"task died"} if end == RunState.FAIL else {None})


@pytest.mark.parametrize("key", ["wrong-key-0123456789abcdef", None])
def test_a_wrong_or_missing_key_is_refused_and_writes_nothing(db, key):
    _, events = dag_with_two_tasks()
    with live(db) as server:
        if key is not None:
            with pytest.raises(requests.HTTPError) as refused:
                client(server.url, key).emit(events[0])
            assert refused.value.response.status_code == 401
        response = server.post(json.dumps(ol_event("START", run_id(), "etl", 0)), key=key)
    assert response.status_code == 401
    assert response.json() == {"error": "missing or invalid API key"}
    assert response.headers["www-authenticate"] == "Bearer"
    assert counts(db) == (0, 0, 0, 0)


def _good() -> dict:
    return ol_event("START", run_id(), "etl", 0)


def _with(path: str, value) -> dict:
    event = _good()
    target = event
    *parents, last = path.split(".")
    for part in parents:
        target = target[part]
    if value is _DELETE:
        del target[last]
    else:
        target[last] = value
    return event


_DELETE = object()
LIMIT = 64 * 1024


@pytest.mark.parametrize(
    ("body", "headers", "status", "message"),
    [
        (json.dumps(_with("eventType", "PAUSE")), {}, 400, "eventType: 'PAUSE' is not one of"),
        (json.dumps(_with("run.runId", "run-42")), {}, 400, "run.runId: 'run-42' is not a UUID"),
        (json.dumps(_with("job.name", _DELETE)), {}, 400, "job: 'name' is required"),
        (json.dumps(_with("job.name", " ")), {}, 400, "job.name: must not be empty"),
        (json.dumps(_with("job.name", "a\x1b[2Jb")), {}, 400, "contains a control character"),
        (
            json.dumps({**_good(), "outputs": [{"namespace": "db", "name": "t\r\nX: 1"}]}),
            {},
            400,
            "outputs[0].name: 't\\r\\nX: 1' contains a control character",
        ),
        (json.dumps(_with("job.name", "x" * 1001)), {}, 400, "job.name: longer than 1000"),
        (
            json.dumps(_with("job.name", "\U0001f600" * 600)),
            {},
            400,
            "job: namespace and name together pass 2000 bytes",
        ),
        ("{not json", {}, 400, "the body: not JSON"),
        (
            json.dumps(_good())[:-1] + ', "eventType": "COMPLETE"}',
            {},
            400,
            "the body: the key 'eventType' is given twice",
        ),
        ('{"eventTime": NaN}', {}, 400, "NaN is not a JSON number"),
        ("[" * 10_000 + "]" * 10_000, {}, 400, "nested deeper than the limit of 32 levels"),
        # Read as strictly as a line of `procobs workflow ingest` (these were a 500, or
        # stored): an integer past int()'s digits, past 64 bits, a float past its range.
        ('{"eventTime": 1' + "0" * 5000 + "}", {}, 400, "is outside the 64-bit range"),
        (json.dumps(_good())[:-1] + ', "x": 2e400}', {}, 400, "'2e400' is too large for a float"),
        (json.dumps(_good()).encode("utf-16"), {}, 400, "the body is not UTF-8 JSON"),
        (
            json.dumps(_with("eventTime", "0001-01-01T00:00:00+14:00")),
            {},
            400,
            "eventTime: '0001-01-01T00:00:00+14:00' is not an RFC 3339 date-time",
        ),
        (
            json.dumps(_with("job.name", "etl")).replace('"etl"', '"et\\udc00l"'),
            {},
            400,
            "the event has a NUL or surrogate character in its text at job.name",
        ),
        (json.dumps(_with("job.name", "etl\u202e")), {}, 400, "contains a control character"),
        # Kept as it came: what PostgreSQL's jsonb refuses is refused on SQLite too.
        (
            json.dumps({**_good(), "x": "a\x00b"}),
            {},
            400,
            "a NUL or surrogate character in its text at x",
        ),
        (
            json.dumps({**_good(), "x": {"k": 1}}).replace('"k"', '"\\ud800"'),
            {},
            400,
            "a NUL or surrogate character in its text at x.\\ud800",
        ),
        ("[]", {}, 400, "the batch is empty"),
        ('"START"', {}, 400, "one event (a JSON object) or an array"),
        (
            json.dumps([_good(), _with("eventTime", "soon"), _good()]),
            {},
            400,
            "event 1: eventTime: 'soon' is not an RFC 3339 date-time",
        ),
        (
            json.dumps(_with("schemaURL", "https://openlineage.io/spec/3-0-0/OpenLineage.json")),
            {},
            400,
            "is not an OpenLineage spec procobs accepts (1-0-0 to 1-0-5 and 2-0-0 to 2-0-2)",
        ),
        (
            json.dumps(
                {
                    **_good(),
                    "eventType": "RUNNING",
                    "schemaURL": "https://openlineage.io/spec/1-0-2/OpenLineage.json",
                }
            ),
            {},
            400,
            "eventType: 'RUNNING' is not one of START, COMPLETE, ABORT, FAIL, OTHER",
        ),
        ("x" * (LIMIT + 1), {}, 413, f"more than the limit of {LIMIT}"),
        (
            gzip.compress(b" " * (LIMIT * 20)),
            {"Content-Encoding": "gzip"},
            413,
            f"more than the limit of {LIMIT}",
        ),
        (b"\x1f\x8b not gzip", {"Content-Encoding": "gzip"}, 400, "not valid gzip"),
        (json.dumps(_good()), {"Content-Encoding": "br"}, 415, "send identity or gzip"),
        (json.dumps(_good()), {"Content-Type": "text/plain"}, 415, "send application/json"),
        (json.dumps(_good()), {"Content-Type": ""}, 415, "no Content-Type header"),
        (
            json.dumps(_good()),
            {"Content-Type": "application/x-www-form-urlencoded"},
            415,
            "content-type 'application/x-www-form-urlencoded': send application/json",
        ),
        (
            json.dumps(_good()),
            {"Content-Type": "application/json; charset=latin-1"},
            415,
            "names a charset other than UTF-8",
        ),
    ],
)
def test_bad_input_is_refused_in_one_line_and_writes_nothing(db, body, headers, status, message):
    with live(db, max_body_bytes=LIMIT) as server:
        response = server.post(body, **headers)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert message in error and "\n" not in error and len(error) < 400
    assert counts(db) == (0, 0, 0, 0)


def _nested(depth: int) -> dict:
    """A good event whose deepest value is a container at level ``depth`` (the event is
    level 1), inside a run facet, which may carry properties of its own."""
    event = _good()
    facet = {"_producer": "https://example.com/p", "_schemaURL": "https://example.com/s"}
    event["run"]["facets"] = {"deep": facet}
    inner = facet  # level 4: event, run, facets, deep
    for _ in range(depth - 4):
        inner["v"] = {}
        inner = inner["v"]
    assert json_depth_problem(event, depth) is None and json_depth_problem(event, depth - 1)
    return event


def test_an_event_is_held_to_the_same_depth_alone_and_in_a_batch(db):
    """A batch's array adds a level no single event has: an event nested as deep as a
    line of `workflow ingest` may be is accepted inside a batch too."""
    with live(db) as server:
        for body in (_nested(MAX_JSON_DEPTH), [_nested(MAX_JSON_DEPTH), _good()]):
            response = server.post(json.dumps(body))
            assert response.status_code == 200, response.text
        for body in (_nested(MAX_JSON_DEPTH + 1), [_good(), _nested(MAX_JSON_DEPTH + 1)]):
            response = server.post(json.dumps(body))
            assert response.status_code == 400
            assert response.json()["error"].endswith(
                f"nested deeper than the limit of {MAX_JSON_DEPTH} levels"
            )
    assert counts(db)[0] == 3


def test_a_body_without_a_content_type_is_refused(db):
    """httpx sends no Content-Type for raw content unless told: the header is missing."""
    with live(db) as server:
        response = httpx.post(
            server.endpoint,
            content=json.dumps(_good()),
            headers={"Authorization": f"Bearer {KEY}"},
        )
    assert response.request.headers.get("content-type") is None
    assert response.status_code == 415
    assert response.json() == {"error": "no Content-Type header: send application/json"}
    assert counts(db) == (0, 0, 0, 0)


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "Application/JSON;charset=UTF-8"],
)
def test_json_with_or_without_a_utf8_charset_is_accepted(db, content_type):
    with live(db) as server:
        response = server.post(json.dumps(_good()), **{"Content-Type": content_type})
    assert response.status_code == 200, response.text
    assert response.json()["events"] == 1


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        (None, "no Content-Type header"),
        ("  ", "no Content-Type header"),
        ("text/json", "content-type 'text/json'"),
        ('application/json; charset="utf-8"', None),
        ("application/json; charset=utf-16", "names a charset other than UTF-8"),
        ("application/json; version=2", None),
    ],
)
def test_the_content_type_rule(header, problem):
    found = receiver.content_type_problem(header)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


def test_a_refused_content_type_is_quoted_printable_and_short():
    found = receiver.content_type_problem("text/plain\x1b[2J" + "x" * 500)
    assert "\x1b" not in found and "(514 characters)" in found and len(found) < 200


def test_a_batch_of_more_than_a_thousand_events_is_refused_whole(db):
    with live(db) as server:
        response = server.post(json.dumps([_good() for _ in range(1001)]))
    assert response.status_code == 400
    assert response.json()["error"] == "a batch holds at most 1000 events, not 1001"
    assert counts(db) == (0, 0, 0, 0)


def test_a_body_sent_in_chunks_without_a_length_is_refused(db):
    def chunks():
        for _ in range(256):  # 1 MiB, chunked: no Content-Length to judge it by
            yield b"x" * 4096

    with live(db, max_body_bytes=LIMIT) as server:
        response = httpx.post(
            server.endpoint,
            content=chunks(),
            headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
        )
    assert response.status_code == 413
    assert counts(db) == (0, 0, 0, 0)


def test_the_limit_is_enforced_while_the_body_is_read(db):
    """The app stops taking chunks as soon as the body passes the limit: it never reads
    (nor holds) the rest of an endless body."""
    app = receiver.create_app(
        db, receiver.ReceiverConfig(catalog=EMPTY_CATALOG, api_keys=(KEY,), max_body_bytes=LIMIT)
    )
    taken, sent = 0, []

    async def receive():
        nonlocal taken
        taken += 1
        return {"type": "http.request", "body": b"x" * 4096, "more_body": True}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": receiver.ENDPOINT,
        "raw_path": receiver.ENDPOINT.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"authorization", f"Bearer {KEY}".encode()),
            (b"content-type", b"application/json"),
        ],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 5000),
    }
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 413
    assert taken == LIMIT // 4096 + 1


def test_a_batch_and_a_gzip_body_are_accepted_whole(db):
    dag = run_id()
    task = run_id()
    batch = [
        ol_event("START", dag, "etl", 0),
        ol_event("START", task, "etl.t", 1, parent=(dag, "etl")),
        {k: v for k, v in ol_event("START", dag, "etl", 0).items() if k != "run"}
        | {"job": {"namespace": NS, "name": "etl"}},
    ]
    with live(db) as server:
        response = server.post(
            gzip.compress(json.dumps(batch).encode()), **{"Content-Encoding": "gzip"}
        )
        again = server.post(json.dumps(batch[:2]))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["received"], body["events"], body["ignored"]) == (3, 2, 1)
    assert (body["runs_placed"], body["components_placed"]) == (1, 1)
    assert again.json()["duplicates"] == 2
    assert counts(db)[:2] == (2, 2)


def test_healthz_says_the_database_is_reachable_and_at_the_schema_head(db):
    with live(db) as server:
        health = httpx.get(server.url + "/healthz")
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "schema": migrate.head_revision()}


def test_a_child_whose_parent_never_arrives_is_placed_on_its_own_by_the_receiver(db):
    dag = run_id()
    task = run_id()
    with live(db, settle_every_seconds=0.1, parent_grace=dt.timedelta(0)) as server:
        server.post(json.dumps(ol_event("START", task, "etl.t", 1, parent=(dag, "etl"))))
        deadline = time.monotonic() + 20
        while snapshot(db)[task]["placement"] == "held":
            assert time.monotonic() < deadline, "the held run was never placed"
            time.sleep(0.05)
    child = snapshot(db)[task]
    assert (child["placement"], child["parent_missing"], child["status"]) == (
        "run",
        True,
        "started",
    )


def test_healthz_answers_503_while_the_schema_is_not_at_head(empty_db):
    with live(empty_db) as server:
        health = httpx.get(server.url + "/healthz")
    assert health.status_code == 503
    assert health.json()["status"] == "unavailable"
    assert "run `procobs db upgrade`" in health.json()["error"]


def test_one_log_line_per_request_and_never_a_key(db, caplog):
    _dag, events = dag_with_two_tasks()
    with caplog.at_level(logging.INFO, logger="procobs.serve"), live(db) as server:
        sender = client(server.url, KEY)
        for event in events[:2]:
            sender.emit(event)
        server.post("{oops")
        server.post("{}", key="not-the-key-0123456789")
    lines = [r.getMessage() for r in caplog.records if r.name == "procobs.serve"]
    assert len(lines) == 4
    assert lines[0].startswith("POST /api/v1/lineage 200 received=1 events=1 runs_placed=1")
    assert lines[2].startswith('POST /api/v1/lineage 400 "the body: not JSON')
    assert lines[3].startswith('POST /api/v1/lineage 401 "missing or invalid API key"')
    assert all("\n" not in line and KEY not in line and "not-the-key" not in line for line in lines)


def _raw_post(url: str, head: str, body: bytes) -> tuple[int, dict]:
    """A request as bytes on a socket: HTTP clients will not send a malformed header."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    request = (
        f"POST {receiver.ENDPOINT} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n"
        f"Authorization: Bearer {KEY}\r\nContent-Type: application/json\r\n{head}\r\n"
    ).encode() + body
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), json.loads(rest.partition(b"\r\n\r\n")[2])


@pytest.mark.parametrize(
    ("declared", "status", "message"),
    [
        # Leading zeros past int()'s 4300 digits: the HTTP parser takes the length (2),
        # and it was a 500 with a traceback in the log.
        ("0" * 4999 + "2", 400, "schemaURL: required"),
        ("0" * 4999 + str(LIMIT + 1), 413, f"the body is {LIMIT + 1} bytes"),
    ],
)
def test_a_content_length_of_many_digits_is_judged_by_its_value(db, declared, status, message):
    with live(db, max_body_bytes=LIMIT) as server:
        answer = _raw_post(server.url, f"Content-Length: {declared}\r\n", b"{}")
    assert answer[0] == status
    assert message in answer[1]["error"] and len(answer[1]["error"]) < 400
    assert counts(db) == (0, 0, 0, 0)


@pytest.mark.parametrize(
    ("method", "path", "status", "message", "allow"),
    [
        ("GET", receiver.ENDPOINT, 405, "GET is not allowed on /api/v1/lineage: use POST", "POST"),
        ("PUT", receiver.ENDPOINT, 405, "PUT is not allowed on /api/v1/lineage: use POST", "POST"),
        ("POST", "/healthz", 405, "POST is not allowed on /healthz: use GET, HEAD", "GET, HEAD"),
        ("POST", "/api/v2/lineage", 404, "no endpoint /api/v2/lineage: POST /api/v1/lin", None),
        ("GET", "/%1B[2J", 404, "no endpoint /\\x1b[2J: POST", None),
    ],
)
def test_a_wrong_method_or_path_is_a_one_line_json_error_and_logged(
    db, caplog, method, path, status, message, allow
):
    """They were Starlette's plain-text answers, and no line in the log."""
    with caplog.at_level(logging.INFO, logger="procobs.serve"), live(db) as server:
        response = httpx.request(
            method, server.url + path, content=b"{}", headers={"Authorization": f"Bearer {KEY}"}
        )
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"].startswith(message)
    if allow is None:
        assert "allow" not in response.headers
    else:
        assert sorted(response.headers["allow"].split(", ")) == allow.split(", ")
    (line,) = [r.getMessage() for r in caplog.records if r.name == "procobs.serve"]
    assert line.startswith(f"{method} ") and f" {status} " in line and "\x1b" not in line
    assert counts(db) == (0, 0, 0, 0)


def test_every_member_of_a_gzip_body_is_read_and_trailing_bytes_refused(db):
    """A gzip body may hold several members (RFC 1952): only the first was read, and a
    200 said the batch was taken while the events of the others were dropped; bytes
    after the last member were ignored too."""
    first, second = [_good(), _good()], [_good()]
    members = gzip.compress(json.dumps(first)[:-1].encode() + b",") + gzip.compress(
        json.dumps(second)[1:].encode()
    )
    gzipped = {"Content-Encoding": "gzip"}
    with live(db) as server:
        junk = server.post(gzip.compress(json.dumps(first).encode()) + b"junk", **gzipped)
        assert junk.status_code == 400 and junk.json()["error"] == "the body is not valid gzip"
        assert counts(db) == (0, 0, 0, 0)
        truncated = server.post(members[:-5], **gzipped)
        assert truncated.json()["error"] == "the gzip body is truncated"
        response = server.post(members, **gzipped)
    assert response.status_code == 200, response.text
    assert (response.json()["received"], response.json()["events"]) == (3, 3)
