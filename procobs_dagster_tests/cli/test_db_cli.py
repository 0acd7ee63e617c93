from procobs_dagster.store import migrate


def test_status_upgrade_downgrade_round_trip(procobs_empty):
    status = procobs_empty.json("db", "status")
    assert status["current"] is None and status["pending"][-1] == migrate.head_revision()
    assert "at " + migrate.head_revision() in procobs_empty("db", "upgrade").stdout
    assert procobs_empty.json("db", "status")["pending"] == []
    procobs_empty("db", "downgrade", "base", "--yes")
    assert procobs_empty.json("db", "status")["current"] is None


def test_rehearse_reports_unchanged_guarded_counts(procobs):
    result = procobs.json("db", "rehearse")
    assert result["changed"] == []
    assert set(result["tables"]) >= {"birth_registry", "process_definition"}
    text = procobs("db", "rehearse").stdout
    assert "birth_registry" in text and "birth-free" in text


def test_unknown_revision_is_one_line_error(procobs):
    result = procobs("db", "upgrade", "nope", expect_exit=1)
    assert result.stderr.strip() == "procobs: error: unknown migration revision: 'nope'"


def test_unmigrated_database_is_refused_for_reads(procobs_empty):
    result = procobs_empty("runs", "list", expect_exit=3)
    assert "procobs db upgrade" in result.stderr


def test_unreachable_database_is_one_line(tmp_path):
    from click.testing import CliRunner

    from procobs_dagster.cli import main

    result = CliRunner().invoke(
        main, ["--database-url", "postgresql://u:pw@127.0.0.1:1/x", "runs", "list"]
    )
    assert result.exit_code == 3
    assert result.stderr.count("\n") == 1 and "cannot reach database" in result.stderr
    assert "pw" not in result.stderr
