import pytest
from sqlalchemy.engine import make_url

from procobs_dagster.errors import EXIT_REFUSED, ConfigurationError, DatabaseUnreachable
from procobs_dagster.store.engine import Database, after_commit, resolve_url
from procobs_dagster_tests.hostile import assert_refused, run_cli


@pytest.mark.parametrize("raw", ["postgresql://u@h/d", "postgres://u@h/d"])
def test_bare_postgres_urls_use_psycopg2(raw):
    assert resolve_url(raw).drivername == "postgresql+psycopg2"


def test_explicit_driver_is_kept():
    assert resolve_url("postgresql+psycopg2://u@h/d").drivername == "postgresql+psycopg2"


def test_psycopg_3_is_refused_before_it_fails_the_write_path():
    # The write path's prepared statements are EXECUTEs with their values interpolated
    # by the driver, as psycopg2 does; psycopg 3 binds them on the server, which a
    # utility statement cannot take ("could not determine data type of parameter $2").
    with pytest.raises(ConfigurationError, match=r"psycopg2://.*psycopg 3"):
        resolve_url("postgresql+psycopg://u@h/d")


def test_default_is_sqlite_under_procobs_home(monkeypatch, tmp_path):
    monkeypatch.delenv("PROCOBS_DATABASE_URL", raising=False)
    monkeypatch.setenv("PROCOBS_HOME", str(tmp_path / "home"))
    url = resolve_url(None)
    assert url.drivername == "sqlite"
    assert url.database == str(tmp_path / "home" / "procobs.db")


def test_environment_url_wins_over_default(monkeypatch):
    monkeypatch.setenv("PROCOBS_DATABASE_URL", "postgresql://u@h/d")
    assert resolve_url(None).host == "h"


@pytest.mark.parametrize("raw", ["mysql://u@h/d", "not a url"])
def test_unsupported_or_malformed_urls_are_refused(raw):
    with pytest.raises(ConfigurationError):
        resolve_url(raw)


def test_unreachable_database_is_one_clear_line_without_password():
    db = Database("postgresql://user:s3cret@127.0.0.1:1/procobs")
    with pytest.raises(DatabaseUnreachable) as caught, db.read():
        pass
    message = str(caught.value)
    assert "\n" not in message
    assert "cannot reach database" in message and "127.0.0.1:1" in message
    assert "s3cret" not in message


def test_after_commit_callbacks_run_after_commit_and_never_after_a_rollback(db, caplog):
    calls = []
    with db.begin() as conn:
        assert after_commit(conn, lambda: calls.append("first"))
        after_commit(conn, lambda: 1 / 0)  # a failing callback is logged, not raised
        after_commit(conn, lambda: calls.append("second"))
        assert calls == []
    assert calls == ["first", "second"]
    assert "after-commit callback failed" in caplog.text
    with pytest.raises(RuntimeError), db.begin() as conn:
        after_commit(conn, lambda: calls.append("rolled back"))
        raise RuntimeError
    with db.read() as conn:
        assert not after_commit(conn, lambda: calls.append("read"))
    assert calls == ["first", "second"]


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("postgresql+psycopg2://u:TopSecret1@h:5/d", "postgresql+psycopg2://u:***@h:5/d"),
        (
            "postgresql+psycopg2://u@h/d?password=TopSecret2&sslpassword=TopSecret3",
            "postgresql+psycopg2://u@h/d?password=***&sslpassword=***",
        ),
        (
            "postgresql+psycopg2:///d?host=h&user=u&password=TopSecret4&application_name=x",
            "postgresql+psycopg2:///d?application_name=x&host=h&password=***&user=u",
        ),
        ("postgresql+psycopg2://u:p%40ss@h/d", "postgresql+psycopg2://u:***@h/d"),
        ("sqlite:////tmp/procobs.db", "sqlite:////tmp/procobs.db"),
    ],
)
def test_the_displayed_url_masks_every_form_of_password(raw, shown):
    """The probe's S1: a password given as a query parameter was printed in full."""
    assert Database(raw).display_url == shown


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        # S2: an unencoded '@' in the password: what follows it was read as the host.
        ("postgresql+psycopg2://procobs:Top@Secret3@127.0.0.1:1/p", "'@' appears twice"),
        # S3: malformed URLs were echoed whole, password and all.
        ("postgresql+psycopg2:/procobs:TopSecretI@127.0.0.1/p", "expected postgresql+psycopg2"),
        (" postgresql+psycopg2://procobs:TopSecretL@127.0.0.1:1/p", "expected postgresql"),
        # S4: a port that is no number was a traceback.
        ("postgresql+psycopg2://procobs:TopSecretP@127.0.0.1:abc/p", "expected postgresql"),
        ("postgresql+psycopg2://procobs:TopSecretQ@[::1/p", "expected postgresql"),
    ],
)
def test_a_malformed_url_is_refused_by_its_scheme_alone(raw, problem):
    with pytest.raises(ConfigurationError) as caught:
        resolve_url(raw)
    message = str(caught.value)
    assert message.startswith("malformed database URL (postgresql+psycopg2://…): ")
    assert problem in message and "Secret" not in message and "\n" not in message


def test_a_query_parameter_the_dialect_cannot_convert_is_a_malformed_url(tmp_path):
    # ?timeout=abc was an internal error (exit 4): sqlite converts it making the engine.
    url = make_url(f"sqlite:///{tmp_path / 'x.db'}?timeout=abc")
    with pytest.raises(ConfigurationError) as caught:
        Database(url)
    assert str(caught.value) == (
        "malformed database URL (sqlite://…): a query parameter cannot be used: "
        "could not convert string to float: 'abc'"
    )
    assert not (tmp_path / "x.db").exists()


@pytest.mark.parametrize(
    "query", ["mode=ro", "mode=ro&uri=true", "uri=true", "timeout=5", "a%0Ab=1"]
)
def test_a_sqlite_url_takes_no_query_parameter(tmp_path, query):
    # ?mode=ro was dropped with a multi-line warning and the database opened for writing;
    # ?uri=true opened a new database named after the whole string.
    raw = f"sqlite:///{tmp_path / 'x.db'}?{query}"
    with pytest.raises(ConfigurationError) as caught:
        resolve_url(raw)
    message = str(caught.value)
    assert message.startswith("malformed database URL (sqlite://…): query parameter '")
    assert message.endswith(
        ": a sqlite:/// URL takes none (procobs sets the busy timeout and the transaction "
        "mode itself)"
    )
    assert "\n" not in message
    outcome = run_cli(raw, "db", "status")
    assert_refused(outcome, EXIT_REFUSED)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("value", ["", "  "])
def test_an_empty_database_url_in_the_environment_is_refused(monkeypatch, value):
    monkeypatch.setenv("PROCOBS_DATABASE_URL", value)
    with pytest.raises(ConfigurationError, match="PROCOBS_DATABASE_URL is set but empty"):
        resolve_url()


@pytest.mark.parametrize("raw", ["localhost", "procobs:TopSecretR@127.0.0.1:1/p", "garbage"])
def test_a_url_without_a_scheme_names_none(raw):
    with pytest.raises(ConfigurationError) as caught:
        resolve_url(raw)
    message = str(caught.value)
    assert message.startswith("malformed database URL: ") and "://…" not in message
    assert "Secret" not in message


@pytest.mark.parametrize(
    "raw",
    [
        "postgresql+pg8000://u@127.0.0.1:1/d",
        "postgresql+asyncpg://u@127.0.0.1:1/d",
        "postgresql+nosuchdriver://u@127.0.0.1:1/d",
        "sqlite+pysqlcipher:///x.db",
    ],
)
def test_a_driver_procobs_does_not_work_through_is_refused(raw):
    with pytest.raises(ConfigurationError, match="unsupported database driver"):
        Database(raw)


def test_a_driver_that_is_not_installed_is_a_refusal(monkeypatch):
    import sqlalchemy.dialects.postgresql.psycopg2 as dialect

    def missing():
        raise ModuleNotFoundError("No module named 'psycopg2'", name="psycopg2")

    monkeypatch.setattr(dialect.PGDialect_psycopg2, "import_dbapi", staticmethod(missing))
    with pytest.raises(ConfigurationError, match="needs the Python module 'psycopg2'"):
        Database("postgresql+psycopg2://u@127.0.0.1:1/d")


def test_the_drivers_message_is_scrubbed_of_the_urls_secrets():
    """libpq quotes values of the connection string in its errors: here the password
    itself, given by mistake as the sslmode too."""
    db = Database("postgresql+psycopg2://u@127.0.0.1:1/d?password=TopSecret9&sslmode=TopSecret9")
    with pytest.raises(DatabaseUnreachable) as caught, db.read():
        pass
    message = str(caught.value)
    assert message == (
        "cannot reach database postgresql+psycopg2://u@127.0.0.1:1/d?password=***&"
        'sslmode=***: invalid sslmode value: "***"'
    )


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize("args", [("runs", "list"), ("runs", "list", "--json")])
@pytest.mark.parametrize(
    ("column", "value", "problem"),
    [
        ("evidence_ref", "{oops", "the database holds text that is not JSON in a JSON column ("),
        ("started_at", "garbage", "the database holds 'garbage' in a timestamp column"),
        ("parent_run_id", "zz", "the database holds 'zz' in a UUID column"),
    ],
)
def test_a_stored_value_its_column_cannot_hold_is_named_not_an_internal_error(
    hostile, args, column, value, problem
):
    # Only SQLite keeps such values (jsonb, timestamptz and uuid refuse them): a hand
    # edit, another program. Each was an internal error (exit 4).
    with hostile.db.begin() as conn:
        conn.exec_driver_sql("PRAGMA ignore_check_constraints=ON")
        conn.exec_driver_sql(f"UPDATE process_run_observation SET {column} = ?", (value,))
    message = hostile.refused(*args, exit_code=EXIT_REFUSED)
    assert message.startswith(problem)
    assert message.endswith(": correct or delete that row")
