"""Control characters, empty and long values (hostile input, issue 14: T1-T7).

Codes and names with control characters, blank or over their limit are refused before
any database sees them — the same message on SQLite and PostgreSQL — and whatever is
already stored is printed with its control characters visible.
"""

import os
import random
import string
import uuid

import pytest
import sqlalchemy as sa

from procobs_dagster import ledger, limits
from procobs_dagster.errors import EXIT_REFUSED, EXIT_USAGE, InvalidInput
from procobs_dagster.events import feed
from procobs_dagster.ids import uuid7
from procobs_dagster.store.tables import process_run_observation
from procobs_dagster.store.vocabulary import RUN_STATUSES
from procobs_dagster_tests.discovery.helpers import KG
from procobs_dagster_tests.dossier.helpers import put

E = "\x1b[2J\x1b[31mEVIL\x1b]0;pwn\x07"
CRLF = "alice\n2026-12-06 04:04:54.864094+00:00  mallory  activation.applied  FAKE"
R10 = "".join(random.Random(14).choices(string.ascii_letters + string.digits, k=10_000))


def _no_raw_controls(text: str) -> None:
    assert "\x1b" not in text and "\x07" not in text and "\r" not in text


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (("--candidate", f"PROC-CAND:{E}", "--dot", "DOT"), "--candidate"),
        (("--candidate", "PROC-CAND:y", "--dot", "DOTA\r\nFAKE 01a2 completed"), "--dot"),
        (("--candidate", "PROC-CAND:y", "--dot", "D", "--input-ref", f"in{E}"), "--input-ref"),
    ],
)
def test_t1_codes_with_escapes_are_refused_before_anything_is_written(hostile, args, option):
    message = hostile.refused("observe", *args, "--", "true", exit_code=EXIT_USAGE)
    assert f"'{option}'" in message and "control character" in message


def test_t1_codes_stored_before_the_limits_are_printed_visibly(hostile, db):
    with db.begin() as conn:
        conn.execute(
            process_run_observation.insert(),
            {
                "process_run_id": uuid7(),
                "process_candidate_code": f"PROC-CAND:{E}",
                "correlation_id": f"corr\n{E}",
                "status": "observed",
                "source_system": "dot_runtime",
                "input_ref": "in\r\nFAKE ROW",
            },
        )
    listed = hostile.ok("runs", "list").stdout
    _no_raw_controls(listed)
    assert "PROC-CAND:\\x1b[2J\\x1b[31mEVIL\\x1b]0;pwn\\x07" in listed
    run_id = hostile.ok("runs", "list", "--json").stdout.split('"process_run_id": "')[1][:36]
    shown = hostile.ok("runs", "show", run_id).stdout
    _no_raw_controls(shown)
    assert "in\\r\\nFAKE ROW" in shown and "corr\\n" in shown
    exact = hostile.ok("runs", "show", run_id, "--json").stdout
    assert "\\u001b[2J" in exact  # JSON keeps the value exactly


@pytest.mark.parametrize(
    "args",
    [
        ("events", "emission", "off", "--approved-by", CRLF),
        ("events", "dry-run", "on", "--approved-by", E),
        ("birth", KG, "--definition-code", "PROC:kg", "--approved-by", f"bob\nFAKE{E}"),
        ("sweep", "sla", "set", f"PROC-CAND:{E}", "100"),
        ("sweep", "sla", "set", "PROC-CAND:x", "100", "--reason", "r\r"),
        ("sweep", "sla", "set", "PROC-CAND:x", "100", "--actor", E),
        ("relay", "redrive", "--all", "--actor", CRLF),
        ("dossier", "baseline", "set", "f", "--by", E),
    ],
)
def test_t2_names_that_would_forge_a_line_or_escape_the_terminal_are_refused(hostile, args):
    message = hostile.refused(*args, exit_code=EXIT_USAGE)
    assert "control character" in message
    _no_raw_controls(message)


def test_t2_a_reason_may_span_lines_and_is_printed_on_one(hostile):
    hostile.ok("sweep", "sla", "set", "PROC-CAND:x", "100", "--reason", CRLF)
    listed = hostile.ok("sweep", "sla", "list").stdout
    assert len(listed.splitlines()) == 3  # the header and two candidates: no forged line
    assert "alice\\n2026-12-06" in listed


@pytest.mark.parametrize(
    "args",
    [
        ("observe", "--candidate", f"PROC-CAND:{R10}", "--dot", "D", "--", "true"),
        ("observe", "--candidate", "PROC-CAND:y", "--dot", R10, "--", "true"),
        ("sweep", "sla", "set", f"PROC-CAND:{R10}", "5"),
        ("dossier", "scan", ".", "--feature", R10),
        ("birth", KG, "--definition-code", f"PROC:{R10}", "--approved-by", "alice"),
    ],
)
def test_t3_a_10kb_code_is_refused_alike_on_both_databases(hostile, args):
    message = hostile.refused(*args, exit_code=EXIT_USAGE)
    assert "characters long, over the limit of 200" in message
    assert len(message) < 300


def test_t3_the_api_refuses_a_10kb_code_before_the_database_sees_it(db):
    messages = []
    for call in (
        lambda conn: ledger.start_run(conn, candidate_code=f"PROC-CAND:{R10}"),
        lambda conn: ledger.start_run(conn, candidate_code="C", correlation_id=R10),
        lambda conn: ledger.start_run(conn, candidate_code="C", idempotency_key=R10),
        lambda conn: ledger.start_run(conn, candidate_code="C", input_ref=R10),
    ):
        with pytest.raises(InvalidInput) as refused, db.begin() as conn:
            call(conn)
        messages.append(str(refused.value))
    assert messages == [
        "candidate code is 10010 characters long, over the limit of 200",
        "correlation_id is 10000 characters long, over the limit of 200",
        "idempotency key is 10000 characters long, over the limit of 640",
        "input_ref is 10000 characters long, over the limit of 4000",
    ]
    with db.read() as conn:
        assert ledger.list_runs(conn) == []


def test_t3_a_refused_step_leaves_no_failed_run_behind(db):
    with pytest.raises(InvalidInput), ledger.observe_step(R10, db=db, candidate="PROC-CAND:y"):
        pass
    with db.read() as conn:
        assert ledger.list_runs(conn) == []


@pytest.mark.parametrize(
    ("candidate", "dot"), [("PROC-CAND:ok", ""), (" ", "\t"), ("PROC-CAND:ok", " DOT")]
)
def test_t4_blank_codes_are_refused(hostile, candidate, dot):
    message = hostile.refused(
        "observe", "--candidate", candidate, "--dot", dot, "--", "true", exit_code=EXIT_USAGE
    )
    assert "must not be empty" in message or "whitespace" in message


def test_t5_names_that_escape_alike_no_longer_collide(hostile, tmp_path):
    mission = tmp_path / "m"
    mission.mkdir()
    (mission / os.fsdecode(b"\xff\xfe-latin1.md")).write_bytes(b"x")
    put(mission, "\\xff\\xfe-latin1.md", "y")
    put(mission, "plan.md")
    scanned = hostile.ok("dossier", "scan", str(mission), "--feature", "ctl3", "--no-manifest")
    assert "its printable form names another path" in scanned.stdout
    shown = hostile.ok("dossier", "show", "ctl3", "--json").stdout
    assert '"relative_path": "\\\\xff\\\\xfe-latin1.md"' in shown


def test_t6_file_names_with_escapes_are_shown_visibly(hostile, tmp_path):
    mission = tmp_path / "m"
    mission.mkdir()
    put(mission, f"x{E}.md")
    put(mission, "evil\nplan.md  plan  present  FAKE")
    put(mission, "plan.md")
    scanned = hostile.ok("dossier", "scan", str(mission), "--feature", "ctl", "--no-manifest")
    _no_raw_controls(scanned.stdout)
    shown = hostile.ok("dossier", "show", "ctl").stdout
    _no_raw_controls(shown)
    rows = [line for line in shown.splitlines() if "plan.md" in line]
    assert all(not line.startswith("plan.md  plan  present  FAKE") for line in rows)
    assert any("evil\\nplan.md" in line for line in rows)


def test_t7_errors_quote_long_values_shortened(hostile, db):
    message = hostile.refused(
        "birth", KG, "--definition-code", "PROC:" + "x" * 10_000, "--approved-by", "alice"
    )
    assert len(message) < 300
    with db.read() as conn, pytest.raises(InvalidInput) as refused:
        feed.events_by_id(conn, ["x" * 100_000])
    assert str(refused.value) == (
        f"malformed event_id: '{'x' * limits.SHOWN_LENGTH}…' (100000 characters) is not a UUID"
    )


def test_t7_an_unknown_run_id_is_quoted_shortened(hostile):
    message = hostile.refused("runs", "show", "y" * 5000, exit_code=EXIT_REFUSED)
    assert message.endswith("(5000 characters) is not a UUID")
    assert hostile.refused("runs", "show", str(uuid.uuid4()), exit_code=EXIT_REFUSED)
    # The allowed statuses were cut off behind a 100,000-character status quoted whole.
    message = hostile.refused("runs", "list", "--status", "z" * 100_000, exit_code=EXIT_REFUSED)
    assert message.startswith("unknown status 'zzz") and "(100000 characters)" in message
    assert message.endswith("expected one of " + ", ".join(RUN_STATUSES))


def test_t_the_text_columns_hold_what_the_limits_allow(db):
    """The limits are not narrower than the databases: a value at each limit, in 4-byte
    characters, is stored on both."""
    wide = "😀"
    with db.begin() as conn:
        run, _ = ledger.start_run(
            conn,
            candidate_code="P" + wide * (limits.MAX_IDENTIFIER_LENGTH - 1),
            correlation_id=wide * limits.MAX_IDENTIFIER_LENGTH,
            idempotency_key=wide * limits.MAX_KEY_LENGTH,
            input_ref=wide * limits.MAX_TEXT_LENGTH,
        )
    with db.read() as conn:
        found = conn.execute(
            sa.select(process_run_observation.c.idempotency_key).where(
                process_run_observation.c.process_run_id == run.process_run_id
            )
        ).scalar_one()
    assert found == wide * limits.MAX_KEY_LENGTH
