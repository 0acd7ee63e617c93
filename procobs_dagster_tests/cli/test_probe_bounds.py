"""Numbers out of bounds on the command line (hostile input, issue 14: B1-B5).

Each is a usage error naming the option and its range (exit 2), one line, no traceback,
and writes nothing, on SQLite and PostgreSQL alike.
"""

import pytest

from procobs_dagster import ledger, limits
from procobs_dagster.errors import EXIT_USAGE, InvalidInput
from procobs_dagster_tests.discovery.helpers import KG

HUGE = ("9223372036854775808", str(10**30))
SINKS_FILE = "sinks:\n  - {name: out, kind: file, path: %s}\n"

COUNT_OPTIONS = [
    ("runs", "list", "--limit"),
    ("events", "audit", "--limit"),
    ("relay", "dead", "--limit"),
    ("discovery", "explain", KG, "--runs"),
    ("retention", "run", "--batch"),
    ("retention", "run", "--dry-run", "--batch"),
    ("sweep", "orphans", "--batch"),
    ("sweep", "stuck", "--batch"),
]


@pytest.mark.parametrize("command", COUNT_OPTIONS, ids=" ".join)
@pytest.mark.parametrize("value", HUGE)
def test_b1_a_count_past_every_integer_is_a_usage_error(hostile, command, value):
    message = hostile.refused(*command, value, exit_code=EXIT_USAGE)
    assert (
        f"Invalid value for '{command[-1]}'" in message and "is not in the range 1<=x<=" in message
    )


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (("sweep", "stuck", "--sla", "100000000000"), "--sla"),
        (("sweep", "orphans", "--grace", "100000000000"), "--grace"),
        (("sweep", "stuck", "--sla", "9223372036854775807"), "--sla"),
    ],
)
def test_b2_a_duration_datetime_cannot_hold_is_a_usage_error(hostile, args, option):
    message = hostile.refused(*args, exit_code=EXIT_USAGE)
    assert f"'{option}'" in message and f"x<={limits.MAX_SECONDS}" in message


@pytest.mark.parametrize("seconds", ["99999999999999", "9999999999999999999999999"])
def test_b3_an_sla_the_databases_cannot_hold_is_refused_alike(hostile, seconds):
    message = hostile.refused("sweep", "sla", "set", "PROC-CAND:x", seconds, exit_code=EXIT_USAGE)
    assert "'SECONDS'" in message and f"1<=x<={limits.MAX_SECONDS}" in message


def test_b3_the_largest_sla_is_stored_and_swept_with_on_both_databases(hostile):
    hostile.ok("sweep", "sla", "set", "PROC-CAND:x", str(limits.MAX_SECONDS))
    assert "0 marked stuck" in hostile.ok("sweep", "stuck").stdout


@pytest.mark.parametrize("lease", ["inf", "1e300", "nan", "-inf"])
def test_b4_a_lease_that_is_not_a_finite_duration_is_refused(hostile, tmp_path, lease):
    sinks = tmp_path / "sinks.yaml"
    sinks.write_text(SINKS_FILE % (tmp_path / "out.jsonl"))
    message = hostile.refused(
        "relay", "run", "--once", "--lease", lease, "--sinks", str(sinks), exit_code=EXIT_USAGE
    )
    assert "'--lease'" in message


@pytest.mark.parametrize("idle", ["inf", "nan", "1e300", "0"])
def test_b5_an_idle_wait_that_is_not_a_finite_duration_is_refused(hostile, tmp_path, idle):
    sinks = tmp_path / "sinks.yaml"
    sinks.write_text(SINKS_FILE % (tmp_path / "out.jsonl"))
    message = hostile.refused(
        "relay", "run", "--idle", idle, "--sinks", str(sinks), exit_code=EXIT_USAGE
    )
    assert "'--idle'" in message
    assert not (tmp_path / "out.jsonl").exists()


def test_b_the_api_refuses_the_same_bounds_before_the_database(db):
    from procobs_dagster.maintenance import sweep_orphans, sweep_stuck

    with pytest.raises(InvalidInput, match="above the limit of 2147483647"):
        sweep_stuck(db, default_sla_seconds=10**11)
    with pytest.raises(InvalidInput, match="grace is 100000000000, above the limit"):
        sweep_orphans(db, grace_seconds=10**11)
    with pytest.raises(InvalidInput, match=r"batch size is .*, above the limit of 10000"):
        sweep_stuck(db, batch=2**63)
    for limit in (0, 2**63):
        with db.read() as conn, pytest.raises(InvalidInput, match=r"^limit is"):
            ledger.list_runs(conn, limit=limit)
