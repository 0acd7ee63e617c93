"""Typed errors. Each carries a one-line message that names the problem.

The CLI prints ``str(error)`` and exits non-zero; callers in Python catch the type.
Every error raised inside a write transaction rolls that transaction back.

The exit codes of the ``procobs`` command (README, "Errors and exit codes", lists them;
a test keeps the table and these names in step):
"""

EXIT_OK = 0
# Refused or invalid input: nothing was written.
EXIT_REFUSED = 1
# A usage error (an unknown option, a value out of an option's range), or a verdict.
EXIT_USAGE = 2
# The database is unreachable, is not a procobs database, or is not at the schema head.
EXIT_DATABASE = 3
# A bug in procobs: an exception nobody expected; the line names its type.
EXIT_INTERNAL = 4
# Interrupted (Ctrl-C), as a shell reports SIGINT.
EXIT_INTERRUPTED = 130


class ProcobsError(Exception):
    """Base of every error procobs raises on purpose."""

    exit_code = EXIT_REFUSED


class InvalidInput(ProcobsError):
    """Malformed ids, unknown enum values, invalid payloads and similar bad input."""


class UnknownStatus(InvalidInput):
    pass


class IllegalTransition(ProcobsError):
    pass


class LostRace(ProcobsError):
    """A guarded compare-and-set found the row changed by a concurrent writer."""


class CorrelationMismatch(InvalidInput):
    pass


class NotFound(ProcobsError):
    pass


class UnknownRun(NotFound):
    pass


class DatabaseUnreachable(ProcobsError):
    exit_code = EXIT_DATABASE


class SchemaNotReady(ProcobsError):
    """The database is reachable but not migrated to the version this code needs."""

    exit_code = EXIT_DATABASE


class ConfigurationError(ProcobsError):
    """A setting is missing or inconsistent (a sink without URL, a missing secret...)."""


class NotConfirmed(ProcobsError):
    """A destructive command was not confirmed (on a terminal, or with --yes)."""


class ApprovalRequired(ProcobsError):
    """An owner-gated action was attempted without a named approver."""


class UnknownCandidate(NotFound):
    """A process candidate nobody declared and no run names."""


class BirthRefused(ProcobsError):
    """A process birth whose candidate is not a verified_candidate, or already born."""


def first_problem(exc, whole: str = "document") -> str:
    """``"field.path: message"`` of a pydantic ValidationError's first error, for the
    one-line messages above (``whole`` names the input when the error is about all of it)."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or whole
    return f"{where}: {first['msg']}"
