"""How the CLI reports a failure: one line on stderr, an exit code the README documents.

Every exception that ends a command comes here. Errors procobs raises on purpose carry
their message and exit code; click's usage errors, the database's refusals and an
unreachable database are named as such; anything else is a bug in procobs, reported as
one line naming the exception's type (``PROCOBS_TRACEBACK=1`` shows the traceback).
Messages are printed with control characters made visible, so a value echoed in an
error cannot repaint the terminal, and cut to ``MAX_LINE`` characters.
"""

import errno
import os

import click
import sqlalchemy as sa

from procobs_dagster.errors import (
    EXIT_DATABASE,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_REFUSED,
    EXIT_USAGE,
    ProcobsError,
)
from procobs_dagster.limits import printable

PREFIX = "procobs: error: "
MAX_LINE = 1_000
TRACEBACK_ENV = "PROCOBS_TRACEBACK"


def one_line(text: str) -> str:
    """``text`` as one printable line of at most MAX_LINE characters."""
    text = printable(text.strip())
    return text if len(text) <= MAX_LINE else text[: MAX_LINE - 1] + "…"


def _database_reason(exc: sa.exc.DBAPIError) -> str:
    text = str(exc.orig if exc.orig is not None else exc).strip()
    return text.splitlines()[0] if text else type(exc.orig or exc).__name__


def _usage(exc: click.UsageError) -> str:
    where = exc.ctx.command_path if exc.ctx is not None else "procobs"
    return f"{exc.format_message()} (see '{where} --help')"


def explain(exc: BaseException) -> tuple[str, int]:
    """The message and exit code the CLI ends with for ``exc``."""
    if isinstance(exc, ProcobsError):
        return str(exc), exc.exit_code
    if isinstance(exc, click.UsageError):
        return _usage(exc), EXIT_USAGE
    if isinstance(exc, click.ClickException):
        return exc.format_message(), exc.exit_code
    if isinstance(exc, click.Abort | KeyboardInterrupt):
        return "interrupted: nothing more was done", EXIT_INTERRUPTED
    if isinstance(exc, sa.exc.IntegrityError):
        return f"the database refused the write: {_database_reason(exc)}", EXIT_REFUSED
    if isinstance(exc, sa.exc.DataError):
        return f"the database refused a value: {_database_reason(exc)}", EXIT_REFUSED
    if isinstance(exc, sa.exc.DBAPIError):
        # OperationalError (a lost connection, a locked file) and DatabaseError (a file
        # that is not a database) alike: the database cannot serve this command.
        return f"database error: {_database_reason(exc)}", EXIT_DATABASE
    first = str(exc).strip().splitlines()
    detail = f": {first[0]}" if first else ""
    return (
        f"internal error: {type(exc).__name__}{detail} (a bug in procobs; "
        f"{TRACEBACK_ENV}=1 shows where)",
        EXIT_INTERNAL,
    )


def report(exc: BaseException) -> int:
    """Print ``exc`` as one line on stderr; return the exit code."""
    if isinstance(exc, OSError) and exc.errno == errno.EPIPE:
        return EXIT_REFUSED  # the reader went away (`| head`): nothing left to tell it
    message, code = explain(exc)
    if code == EXIT_INTERNAL and os.environ.get(TRACEBACK_ENV):
        raise exc
    click.echo(PREFIX + one_line(message), err=True)
    return code
