"""The README's exit-code table is the code's: every exit code procobs can end with is
documented, and every documented code is one the code uses."""

import importlib
import pkgutil
import re
from pathlib import Path

import click
import pytest
import sqlalchemy as sa

import procobs_dagster
from procobs_dagster import errors
from procobs_dagster.cli import failure
from procobs_dagster.cli.observe import CommandFailed
from procobs_dagster.dossier.reconcile import ParityVerdict

ROOT = Path(procobs_dagster.__file__).parent.parent
ROW = re.compile(r"^\| (\d+) \| (.+) \|$", re.MULTILINE)


def documented_codes(page: Path, heading: str) -> set[int]:
    text = page.read_text()
    section = text[text.index(heading) :]
    table = section[: section.index("\n\n", section.index("| exit |"))]
    return {int(code) for code, _ in ROW.findall(table)}


def exit_constants() -> set[int]:
    return {value for name, value in vars(errors).items() if name.startswith("EXIT_")}


def _all_subclasses(cls: type) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub, *_all_subclasses(sub)}
    return found


def every_error_class() -> set[type]:
    for module in pkgutil.walk_packages(procobs_dagster.__path__, "procobs_dagster."):
        if ".migrations" not in module.name:  # Alembic's scripts run only under Alembic
            importlib.import_module(module.name)
    # The observed command's failure carries that command's own code (documented apart).
    return _all_subclasses(errors.ProcobsError) - {CommandFailed}


def test_the_readme_table_is_the_set_of_exit_codes():
    assert documented_codes(ROOT / "README.md", "## Errors and exit codes") == exit_constants()


def test_the_cli_reference_table_is_the_same_set():
    assert documented_codes(ROOT / "docs" / "cli.md", "## Global options") == exit_constants()


def test_every_error_class_exits_with_a_documented_code():
    classes = every_error_class()
    assert len(classes) > 10
    codes = {c.__qualname__: c.exit_code for c in classes}
    assert {n: code for n, code in codes.items() if code not in exit_constants()} == {}


def test_verdicts_exit_with_documented_codes():
    assert {v.exit_code for v in ParityVerdict} <= exit_constants()


def _dbapi(kind: type[sa.exc.DBAPIError]) -> sa.exc.DBAPIError:
    return kind("SELECT 1", {}, Exception("the server said no\nsecond line"))


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (errors.InvalidInput("bad"), errors.EXIT_REFUSED),
        (errors.DatabaseUnreachable("down"), errors.EXIT_DATABASE),
        (click.UsageError("no such option"), errors.EXIT_USAGE),
        (click.BadParameter("out of range"), errors.EXIT_USAGE),
        (_dbapi(sa.exc.IntegrityError), errors.EXIT_REFUSED),
        (_dbapi(sa.exc.DataError), errors.EXIT_REFUSED),
        (_dbapi(sa.exc.OperationalError), errors.EXIT_DATABASE),
        (_dbapi(sa.exc.DatabaseError), errors.EXIT_DATABASE),
        (KeyboardInterrupt(), errors.EXIT_INTERRUPTED),
        (click.Abort(), errors.EXIT_INTERRUPTED),
        (RuntimeError("a bug\nwith a second line"), errors.EXIT_INTERNAL),
    ],
)
def test_the_cli_maps_each_failure_to_its_documented_code(exc, code):
    message, exit_code = failure.explain(exc)
    assert exit_code == code and exit_code in exit_constants()
    assert "\n" not in failure.one_line(message)


def test_an_internal_error_names_its_type_and_the_way_to_the_traceback():
    message, _ = failure.explain(ZeroDivisionError("division by zero"))
    assert message == (
        "internal error: ZeroDivisionError: division by zero (a bug in procobs; "
        "PROCOBS_TRACEBACK=1 shows where)"
    )
