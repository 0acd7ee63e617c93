"""Typed errors. Each carries a one-line message that names the problem.

The CLI prints ``str(error)`` and exits non-zero; callers in Python catch the type.
Every error raised inside a write transaction rolls that transaction back.
"""


class ProcobsError(Exception):
    """Base of every error procobs raises on purpose."""

    exit_code = 1


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
    exit_code = 3


class SchemaNotReady(ProcobsError):
    """The database is reachable but not migrated to the version this code needs."""

    exit_code = 3


class ConfigurationError(ProcobsError):
    """A setting is missing or inconsistent (a sink without URL, a missing secret...)."""


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
