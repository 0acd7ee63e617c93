"""Option and argument types of the `procobs` command, built on ``procobs_dagster.limits``.

Every option that takes a number is bounded on both sides, and every text value is
checked as the identifier, name or free text it is, so a bad value is a usage error (exit
2) naming the option and the limit before any database is opened.
"""

import errno
import math
import os

import click

from procobs_dagster import limits


class FiniteFloatRange(click.FloatRange):
    """``click.FloatRange`` that also refuses ``nan`` (which fails no comparison) and
    ``inf``."""

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


class SafePath(click.Path):
    """``click.Path`` that refuses, as a usage error, a NUL character (no path holds one;
    the system calls click makes with it would raise) and a name the file system cannot
    take (every later look at it would raise)."""

    def convert(self, value, param, ctx):
        if isinstance(value, str) and "\x00" in value:
            self.fail("a path cannot contain a NUL character", param, ctx)
        try:
            os.stat(value)
        except OSError as exc:
            if exc.errno == errno.ENAMETOOLONG:
                self.fail(
                    f"the path is longer than the file system takes: {exc.strerror}", param, ctx
                )
        return super().convert(value, param, ctx)


class CheckedText(click.ParamType):
    """Text held to one of the layer's rules (``problem`` returns a sentence or None)."""

    def __init__(self, name: str, problem, convert=lambda value: value):
        self.name = name
        self._problem = problem
        self._convert = convert

    def convert(self, value, param, ctx):
        problem = self._problem(value)
        if problem is not None:
            self.fail(f"the value {problem}", param, ctx)
        return self._convert(value)


# --limit, --runs: rows a listing returns; --batch: rows or families per transaction.
ROWS = click.IntRange(1, limits.MAX_ROWS_SHOWN)
BATCH = click.IntRange(1, limits.MAX_BATCH)


def whole_seconds(minimum: int) -> click.IntRange:
    return click.IntRange(minimum, limits.MAX_SECONDS)


def seconds(minimum: float) -> FiniteFloatRange:
    return FiniteFloatRange(minimum, limits.MAX_SECONDS)


IDENTIFIER = CheckedText("TEXT", limits.identifier_problem)
NAME = CheckedText("NAME", limits.name_problem, str.strip)
FREE_TEXT = CheckedText("TEXT", limits.text_problem)


class IntRangeOrForever(click.IntRange):
    """A bounded whole number, or the word ``forever`` (returned as ``FOREVER``): a
    retention age or count that may also mean "never remove"."""

    def __init__(self, minimum: int, maximum: int, metavar: str):
        super().__init__(minimum, maximum)
        self.name = f"{metavar}|forever"

    def convert(self, value, param, ctx):
        if value == FOREVER:
            return FOREVER
        return super().convert(value, param, ctx)


FOREVER = "forever"
# Retention ages (whole days) and counts of rows kept (procobs retention run).
DAYS_OR_FOREVER = IntRangeOrForever(0, limits.MAX_DAYS, "DAYS")
OUTBOX_DAYS_OR_FOREVER = IntRangeOrForever(1, limits.MAX_DAYS, "DAYS")
KEPT_OR_FOREVER = IntRangeOrForever(1, limits.MAX_ROWS_SHOWN, "N")
