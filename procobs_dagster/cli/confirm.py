"""Confirmations of destructive commands: asked on a terminal, ``--yes`` otherwise.

A command that would drop tables or replace a file the user has asks first when a
person is at the terminal (stdin and stderr are terminals); anywhere else (a script, a
pipe, CI) it needs ``--yes`` and, without it, refuses with one line and changes nothing.
"""

import sys
from collections.abc import Iterable
from pathlib import Path

import click

from procobs_dagster import output_files
from procobs_dagster.errors import NotConfirmed
from procobs_dagster.limits import printable

yes_option = click.option(
    "--yes", is_flag=True, help="Do it without asking (needed when no terminal is attached)."
)


def at_a_terminal() -> bool:
    return sys.stdin.isatty() and sys.stderr.isatty()


def confirm(question: str, *, yes: bool, refusal: str) -> None:
    """Go on if ``yes``, or if the person at the terminal says so; else NotConfirmed."""
    if yes:
        return
    if not at_a_terminal():
        raise NotConfirmed(f"{refusal}: pass --yes to go ahead (nothing changed)")
    if not click.confirm(printable(question), default=False, err=True):
        raise NotConfirmed("not confirmed: nothing changed")


def confirm_replacing(paths: Iterable[Path], *, yes: bool) -> None:
    """Ask before replacing the files of ``paths`` that exist."""
    existing = [str(p) for p in paths if output_files.exists(p)]
    if not existing:
        return
    shown = existing[0] if len(existing) == 1 else f"{existing[0]} and {len(existing) - 1} more"
    confirm(f"replace {shown}?", yes=yes, refusal=f"{shown} exists")
