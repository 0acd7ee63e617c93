"""Confirmations, overwrites and the database's location and state (hostile input,
issue 14: C1-C6).

Dropping tables or replacing a file the user has asks first (or needs --yes); dropping
births needs --drop-births as well; a database in a state this procobs cannot work with
is one line, and a command that only reads never creates a database file.
"""

import os
import sqlite3

import pytest
import sqlalchemy as sa

from procobs_dagster.errors import EXIT_DATABASE, EXIT_REFUSED, NotConfirmed
from procobs_dagster.store import migrate
from procobs_dagster.store.engine import Database
from procobs_dagster_tests.discovery.helpers import KG
from procobs_dagster_tests.hostile import Hostile, assert_refused, run_cli


def _born(hostile: Hostile) -> None:
    hostile.ok("birth", KG, "--definition-code", "PROC:kg", "--approved-by", "alice")


def test_c1_a_downgrade_that_drops_births_needs_both_confirmations(hostile):
    _born(hostile)
    for args in ((), ("--yes",), ("--drop-births",)):
        message = hostile.refused("db", "downgrade", "base", *args, exit_code=EXIT_REFUSED)
        assert "nothing changed" in message
    assert "birth_registry with 1 birth(s): pass --drop-births" in hostile.refused(
        "db", "downgrade", "base", "--yes"
    )
    assert "pass --yes" in hostile.refused("db", "downgrade", "base", "--drop-births")
    hostile.ok("db", "downgrade", "base", "--yes", "--drop-births")
    assert "birth_registry" not in hostile.counts()


def test_c2_downgrading_to_base_asks_first(hostile):
    message = hostile.refused("db", "downgrade", "base", exit_code=EXIT_REFUSED)
    assert message.startswith("downgrading to base drops ")
    assert "process_run_observation (1 rows)" in message and "pass --yes" in message
    hostile.ok("db", "downgrade", "base", "--yes")
    assert set(hostile.counts()) <= {"alembic_version"}


@pytest.mark.parametrize("revision", ["head", "+1", "-99", "nope"])
def test_c3_a_revision_that_is_no_downgrade_is_one_line(hostile, revision):
    hostile.refused("db", "downgrade", revision, "--yes", exit_code=EXIT_REFUSED)


def test_c3_one_step_down_is_a_revision_not_an_option(hostile):
    hostile.ok("db", "downgrade", "-1", "--yes")
    with hostile.db.read() as conn:
        assert migrate.current_revision(conn) == migrate.pending_revisions(None)[-2]


def test_c3_downgrading_a_database_without_a_schema_is_one_line(procobs_empty, empty_db):
    before = Hostile(empty_db)
    outcome = run_cli(before.url, "db", "downgrade", "--yes")
    message = assert_refused(outcome)
    assert "no procobs database" in message or "nothing to downgrade" in message
    if empty_db.dialect == "sqlite":
        assert not os.path.exists(empty_db.url.database)


def _stamp(db: Database, revision: str) -> None:
    with db.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = :v"), {"v": revision})


@pytest.mark.parametrize(
    "args", [("db", "status"), ("db", "upgrade"), ("db", "downgrade", "--yes"), ("runs", "list")]
)
def test_c3_a_database_a_newer_procobs_migrated_is_one_line(hostile, db, args):
    _stamp(db, "9999_future")
    message = hostile.refused(*args, exit_code=EXIT_DATABASE)
    assert "is at schema '9999_future', which this procobs does not know" in message
    assert "db upgrade" not in message


@pytest.mark.parametrize(
    "args", [("db", "status"), ("db", "upgrade"), ("db", "downgrade", "--yes"), ("runs", "list")]
)
def test_c3_tables_without_a_recorded_revision_are_one_line(hostile, db, args):
    with db.begin() as conn:
        conn.execute(sa.text("DROP TABLE alembic_version"))
    message = hostile.refused(*args, exit_code=EXIT_DATABASE)
    assert "holds procobs tables" in message and "records no schema revision" in message


def test_c4_an_existing_output_file_is_replaced_only_when_confirmed(hostile, tmp_path):
    precious = tmp_path / "precious.txt"
    precious.write_text("precious\n")
    stage = ("events", "activation", "stage", "process.run.failed", "--out", str(precious))
    assert "precious.txt exists: pass --yes" in hostile.refused(*stage, exit_code=EXIT_REFUSED)
    assert precious.read_text() == "precious\n"
    for name in ("precious.json", "precious.sqlite"):
        kept = tmp_path / name
        kept.write_text("precious\n")
        hostile.refused("discovery", "export-ocel", str(kept), exit_code=EXIT_REFUSED)
        assert kept.read_text() == "precious\n"
    hostile.ok(*stage, "--yes")
    assert '"format": "procobs.activation-packet/1"' in precious.read_text()


def test_c4_render_sql_asks_before_replacing_a_changed_file(tmp_path):
    out = tmp_path / "sql"
    assert run_cli(None, "db", "render-sql", "--out", str(out)).exit_code == 0
    (out / "apply.sql").write_text("-- reviewed and edited\n")
    assert_refused(run_cli(None, "db", "render-sql", "--out", str(out)), EXIT_REFUSED)
    assert (out / "apply.sql").read_text() == "-- reviewed and edited\n"


def test_c4_a_symlinked_output_is_replaced_not_followed(hostile, tmp_path):
    victim = tmp_path / "victim2.txt"
    victim.write_text("victim\n")
    link = tmp_path / "link.json"
    link.symlink_to(victim)
    hostile.ok("discovery", "export-ocel", str(link), "--yes")
    assert victim.read_text() == "victim\n"
    assert not link.is_symlink() and '"objects"' in link.read_text()


def test_c4_the_export_never_replaces_the_procobs_database(tmp_path):
    path = tmp_path / "ledger.sqlite"
    url = f"sqlite:///{path}"
    assert run_cli(url, "db", "upgrade").exit_code == 0
    outcome = run_cli(url, "discovery", "export-ocel", str(path), "--yes")
    assert "is the procobs database itself" in assert_refused(outcome, EXIT_REFUSED)
    assert run_cli(url, "runs", "list").exit_code == 0


def test_c5_schemas_never_deletes_a_file_procobs_did_not_write(tmp_path):
    folder = tmp_path / "myschemas"
    folder.mkdir()
    mine = folder / "invoice.schema.json"
    mine.write_text('{"my": "precious schema"}')
    outcome = run_cli(None, "events", "schemas", "--out", str(folder), "--yes")
    assert outcome.exit_code == 0 and "removed" not in outcome.stdout
    assert mine.read_text() == '{"my": "precious schema"}'


def _home(path) -> dict:
    return {"PROCOBS_HOME": str(path), "PROCOBS_DATABASE_URL": None}


def test_c6_a_procobs_home_that_is_a_file_is_one_line(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("not a folder\n")
    assert "no procobs database at" in assert_refused(
        run_cli(None, "runs", "list", env=_home(afile)), EXIT_DATABASE
    )
    assert "cannot use" in assert_refused(run_cli(None, "db", "upgrade", env=_home(afile)))
    assert afile.read_text() == "not a folder\n"


@pytest.mark.parametrize(
    "content",
    [b"a text file\n", bytes(range(256)) * 64, b"SQLite format 3\x00" + b"\xff" * 4096],
    ids=["text", "random", "fake header"],
)
@pytest.mark.parametrize("args", [("runs", "list"), ("db", "upgrade"), ("db", "status")])
def test_c6_a_file_that_is_not_a_database_is_one_line(tmp_path, content, args):
    path = tmp_path / "x.db"
    path.write_bytes(content)
    message = assert_refused(run_cli(f"sqlite:///{path}", *args), EXIT_DATABASE)
    assert "file is not a database" in message
    assert path.read_bytes() == content


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///"])
def test_c6_an_in_memory_database_is_refused(url):
    message = assert_refused(run_cli(url, "db", "upgrade"), EXIT_REFUSED)
    assert "in-memory SQLite database" in message


def test_c6_a_mistyped_home_is_named_and_not_created(tmp_path):
    typo = tmp_path / "typo-home"
    for args in (("runs", "list"), ("db", "downgrade", "--yes"), ("db", "status")):
        outcome = run_cli(None, *args, env=_home(typo))
        if args == ("db", "status"):
            assert outcome.exit_code == 0 and "none" in outcome.stdout
        else:
            assert "no procobs database at" in assert_refused(outcome, EXIT_DATABASE)
    assert not typo.exists()


@pytest.mark.parametrize("args", [("runs", "list"), ("db", "upgrade"), ("db", "status")])
def test_c6_a_database_name_longer_than_the_file_system_takes_is_one_line(tmp_path, args):
    # A path component past 255 bytes: runs list was an internal error (exit 4, OSError).
    url = f"sqlite:///{tmp_path / ('a' * 300) / 'x.db'}"
    message = assert_refused(run_cli(url, *args), EXIT_REFUSED)
    assert message.startswith(f"cannot use {tmp_path / ('a' * 300)}")
    assert "File name too long" in message


def test_c6_a_directory_as_the_database_is_one_line(tmp_path):
    folder = tmp_path / "adir.db"
    folder.mkdir()
    assert_refused(run_cli(f"sqlite:///{folder}", "runs", "list"), EXIT_DATABASE)


def test_c6_a_real_sqlite_file_of_another_program_is_named(tmp_path):
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as other:
        other.execute("CREATE TABLE t (x)")
    message = assert_refused(run_cli(f"sqlite:///{path}", "runs", "list"), EXIT_DATABASE)
    assert "is at schema none" in message


def test_c1_the_migration_api_keeps_births_without_drop_births(hostile, db):
    _born(hostile)
    before = hostile.counts()
    with pytest.raises(NotConfirmed, match="pass --drop-births"):
        migrate.downgrade(db, "base")
    assert hostile.counts() == before
