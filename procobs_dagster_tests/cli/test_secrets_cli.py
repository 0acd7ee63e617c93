"""Secrets come from the environment only: a database password, in whatever form the URL
carries it, and a webhook's signing secret never reach a table, a log line, an event, an
error message or Dagster's storage."""

import contextlib
import glob
import logging
import sqlite3
import zlib

import pytest
from click.testing import CliRunner

from procobs_dagster.cli import main
from procobs_dagster.errors import EXIT_DATABASE, EXIT_REFUSED, EXIT_USAGE
from procobs_dagster.store.engine import Database
from procobs_dagster_tests.databases import every_value
from procobs_dagster_tests.delivery.helpers import (
    SECRET,
    SECRET_ENV,
    Receiver,
    emit_events,
    webhook_config,
    write_sinks_file,
)
from procobs_dagster_tests.hostile import assert_refused, run_cli

DB_SECRET = "Zq9DbSecret"
SSL_SECRET = "Zq9SslSecret"
SECRETS = (DB_SECRET, SSL_SECRET, SECRET)

UNREACHABLE = [
    f"postgresql+psycopg2://procobs@127.0.0.1:1/p?password={DB_SECRET}",
    f"postgresql+psycopg2://procobs@127.0.0.1:1/p?password={DB_SECRET}&sslpassword={SSL_SECRET}",
    f"postgresql+psycopg2:///p?host=127.0.0.1&port=1&user=u&password={DB_SECRET}",
    f"postgresql+psycopg2://procobs:{DB_SECRET}@127.0.0.1:1/p",
]
MALFORMED = [
    f"postgresql+psycopg2://procobs:Top@{DB_SECRET}@127.0.0.1:1/p",
    f"postgresql+psycopg2:/procobs:{DB_SECRET}@127.0.0.1/p",
    f" postgresql+psycopg2://procobs:{DB_SECRET}@127.0.0.1:1/p",
    f"postgresql+psycopg2://procobs:{DB_SECRET}@127.0.0.1:abc/p",
    f"postgresql+psycopg2://procobs:{DB_SECRET}@[::1/p",
]


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


@pytest.mark.parametrize("raw", UNREACHABLE)
@pytest.mark.parametrize("given", ["option", "environment"])
def test_an_unreachable_database_is_one_line_without_its_password(raw, given):
    if given == "option":
        outcome = run_cli(raw, "runs", "list")
    else:
        outcome = run_cli(None, "runs", "list", env={"PROCOBS_DATABASE_URL": raw})
    assert assert_refused(outcome, EXIT_DATABASE).startswith("cannot reach database ")
    assert_no_secret(outcome.stderr, outcome.stdout)


@pytest.mark.parametrize("raw", MALFORMED)
def test_a_malformed_database_url_is_one_line_without_its_password(raw):
    outcome = run_cli(raw, "db", "status")
    assert assert_refused(outcome, EXIT_REFUSED).startswith("malformed database URL ")
    assert_no_secret(outcome.stderr, outcome.stdout)


def test_an_empty_database_url_is_a_usage_error():
    # `--database-url "$URL"` with URL unset must not quietly mean the SQLite default.
    outcome = CliRunner().invoke(main, ["--database-url", " ", "db", "status"])
    assert outcome.exit_code == EXIT_USAGE and "is empty" in outcome.stderr
    assert "Traceback" not in outcome.stderr + outcome.stdout


def with_secrets(db: Database) -> str:
    """The test database's URL with a password and an SSL key password in it (the test
    server trusts local connections and ignores both)."""
    url = db.url.set(password=DB_SECRET).render_as_string(hide_password=False)
    return f"{url}?sslpassword={SSL_SECRET}"


def test_commands_that_print_the_database_show_it_masked(postgres_db):
    url = with_secrets(postgres_db)
    for args in (("db", "upgrade"), ("db", "status"), ("db", "status", "--json")):
        outcome = run_cli(url, *args)
        assert outcome.exit_code == 0, outcome
        assert ":***@" in outcome.stdout and "sslpassword=***" in outcome.stdout
        assert_no_secret(outcome.stderr, outcome.stdout)


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


def test_no_secret_reaches_a_table_a_log_or_an_error(
    postgres_db, receiver, tmp_path, caplog, monkeypatch
):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv(SECRET_ENV, SECRET)
    url = with_secrets(postgres_db)
    emit_events(postgres_db, 3)
    receiver.respond = lambda _id, body: (503, {}, body)  # echoes what it was sent
    sinks = write_sinks_file(tmp_path / "sinks.yaml", webhook_config(receiver.url))
    outcomes = [
        run_cli(url, "relay", "import-sinks", str(sinks)),
        run_cli(url, "relay", "run", "--once"),
        run_cli(url, "relay", "dead"),
        run_cli(url, "relay", "status", "--json"),
        run_cli(url, "relay", "sinks", "--json"),
    ]
    assert [o.exit_code for o in outcomes] == [0] * len(outcomes), outcomes
    assert len(receiver.received(503)) == 3
    printed = [text for o in outcomes for text in (o.stdout, o.stderr)]
    assert_no_secret(every_value(postgres_db), caplog.text, *printed)
    assert SECRET_ENV in every_value(postgres_db)  # the variable's name is what is kept


def dagster_storage_text(home) -> str:
    """Everything in the SQLite files of a Dagster instance, compressed snapshots unpacked."""
    found = []
    for path in glob.glob(f"{home}/**/*.db", recursive=True):
        with sqlite3.connect(path) as conn:
            tables = [
                r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            ]
            for table in tables:
                for row in conn.execute(f'SELECT * FROM "{table}"'):
                    for value in row:
                        if isinstance(value, bytes):
                            with contextlib.suppress(zlib.error):
                                value = zlib.decompress(value)
                            value = value.decode(errors="replace")
                        found.append(str(value))
    return " ".join(found)


def test_the_demo_keeps_the_password_out_of_its_output_and_dagsters_storage(postgres_db, tmp_path):
    """A URL in a Dagster resource's config is kept in every run's snapshot; the demo
    binds it through an EnvVar, as a deployment does."""
    result = run_cli(with_secrets(postgres_db), "demo", timeout=600)
    assert result.exit_code == 0, result
    (hint,) = [line for line in result.stdout.splitlines() if line.startswith("next:")]
    assert ":***@" in hint and hint.endswith("(with your password for ***)")
    storage = dagster_storage_text(tmp_path / "procobs_home" / "dagster")
    assert "database_url" in storage  # the resource's config is there, its value is not
    assert_no_secret(result.stdout, result.stderr, storage, every_value(postgres_db))
