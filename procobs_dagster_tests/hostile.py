"""Running `procobs` as a careless or hostile user would, and the rule every refusal keeps.

The rule (README, "Errors and exit codes"): a refused command prints one line on stderr,
`procobs: error: …`, exits with a documented code, shows no traceback, and writes
nothing — the row count of every table is what it was. The probe tests and the fuzzing
suite hold every command to it through :func:`run_cli` and :func:`assert_refused`.
"""

import contextlib
import dataclasses
import re
import signal

import sqlalchemy as sa
from click.testing import CliRunner

from procobs_dagster import errors
from procobs_dagster.cli import main
from procobs_dagster.cli.failure import MAX_LINE, PREFIX
from procobs_dagster.store.engine import Database

DOCUMENTED_EXIT_CODES = frozenset(
    value for name, value in vars(errors).items() if name.startswith("EXIT_")
)
# A command that hangs (a FIFO read, a busy loop) fails the test instead of the suite.
DEFAULT_TIMEOUT_SECONDS = 60


def row_counts(db: Database) -> dict[str, int]:
    """Every table of the database with its number of rows."""
    with db.read() as conn:
        names = sa.inspect(conn).get_table_names()
        return {
            name: conn.execute(sa.select(sa.func.count()).select_from(sa.table(name))).scalar_one()
            for name in sorted(names)
        }


class TimedOut(AssertionError):
    pass


@contextlib.contextmanager
def deadline(seconds: int):
    """Fail with TimedOut when the block runs longer than ``seconds`` (main thread only)."""

    def expire(_signum, _frame):
        raise TimedOut(f"still running after {seconds} s: a hang")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@dataclasses.dataclass(frozen=True)
class Outcome:
    args: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str
    exception: BaseException | None

    def __str__(self) -> str:
        return (
            f"procobs {' '.join(self.args)!r} -> {self.exit_code}\n"
            f"stderr: {self.stderr[:2000]!r}\nstdout: {self.stdout[:500]!r}"
        )


def run_cli(
    url: str | None,
    *args: str,
    env: dict[str, str] | None = None,
    timeout: int = DEFAULT_TIMEOUT_SECONDS,
) -> Outcome:
    """``procobs [--database-url URL] ARGS…`` in-process, stdin not a terminal."""
    argv = (["--database-url", url] if url else []) + list(args)
    with deadline(timeout):
        result = CliRunner().invoke(main, argv, env=env, catch_exceptions=True)
    return Outcome(tuple(args), result.exit_code, result.stdout, result.stderr, result.exception)


def assert_no_traceback(outcome: Outcome) -> None:
    # Only SystemExit may end a command: anything else escaped the CLI's handler.
    assert outcome.exception is None or isinstance(outcome.exception, SystemExit), outcome
    assert "Traceback" not in outcome.stderr + outcome.stdout, outcome


# The ingest commands list a refused file's bad lines (at most 20, then a count) before
# their one-line error: `FILE: line N: problem`, `FILE: … and N more`.
LISTED_PROBLEM = re.compile(r".*: (line \d+: .*|… and \d+ more)")


def assert_refused(outcome: Outcome, exit_code: int | None = None, *, listing: bool = False) -> str:
    """One line on stderr, a documented non-zero exit code (``exit_code`` if given), no
    traceback; returns the message after the prefix. With ``listing``, the error line may
    follow the bad lines of a refused file (see LISTED_PROBLEM)."""
    assert_no_traceback(outcome)
    assert outcome.exit_code in DOCUMENTED_EXIT_CODES - {errors.EXIT_OK}, outcome
    if exit_code is not None:
        assert outcome.exit_code == exit_code, outcome
    lines = outcome.stderr.splitlines()
    if listing:
        listed, lines = lines[:-1], lines[-1:]
        assert len(listed) <= 21 and all(LISTED_PROBLEM.fullmatch(x) for x in listed), outcome
    assert len(lines) == 1, outcome
    assert lines[0].startswith(PREFIX), outcome
    assert len(lines[0]) <= len(PREFIX) + MAX_LINE, outcome
    assert "\x1b" not in lines[0] and "\r" not in lines[0], outcome
    return lines[0][len(PREFIX) :]


class Hostile:
    """Runs commands against one database and checks that refusals write nothing."""

    def __init__(self, db: Database):
        self.db = db
        self.url = db.url.render_as_string(hide_password=False)

    def counts(self) -> dict[str, int]:
        return row_counts(self.db)

    def run(self, *args: str, **options) -> Outcome:
        return run_cli(self.url, *args, **options)

    def refused(self, *args: str, exit_code: int | None = None, **options) -> str:
        """Run ``args``; assert the rule of a refusal, tables unchanged; the message."""
        before = self.counts()
        outcome = self.run(*args, **options)
        message = assert_refused(outcome, exit_code)
        assert self.counts() == before, f"a refused command wrote rows: {outcome}"
        return message

    def ok(self, *args: str, **options) -> Outcome:
        outcome = self.run(*args, **options)
        assert_no_traceback(outcome)
        assert outcome.exit_code == 0, outcome
        return outcome
