"""How the CLI prints: JSON for machines (``--json``), aligned text for people."""

import json
import math
import sys
from collections.abc import Iterable, Sequence
from typing import Any

import click

from procobs_dagster.limits import printable


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float as a string ("inf", "nan"): JSON has no such
    numbers, and only a value stored before its bound existed can be one."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def emit_json(value: Any) -> None:
    """Machines read the values exactly as stored (control characters included, escaped
    by JSON itself); the document is strict JSON."""
    click.echo(json.dumps(_finite(value), indent=2, sort_keys=True, default=str, allow_nan=False))


def say(text: str = "", err: bool = False) -> None:
    """One line for people: whatever it quotes from stored data or from outside, no
    control character reaches the terminal (it is shown as ``\\x1b``, ``\\n``…)."""
    click.echo(printable(text), err=err)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, dict | list):
        return printable(json.dumps(value, sort_keys=True, default=str))
    return printable(str(value))


def render_table(rows: Iterable[dict[str, Any]], columns: Sequence[str]) -> str:
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(line.rstrip() for line in lines)


def echo_table(rows: Iterable[dict[str, Any]], columns: Sequence[str], empty: str) -> None:
    rows = list(rows)
    click.echo(render_table(rows, columns) if rows else printable(empty))


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")


def batches(count: int) -> str:
    """``count`` batches, in words: "1 batch", "3 batches"."""
    return f"{count} batch" if count == 1 else f"{count} batches"


def batch_progress(as_json: bool):
    """A progress callback printing one line per batch to stderr, when a person watches
    (stderr is a terminal and no --json was asked for); otherwise None."""
    if as_json or not sys.stderr.isatty():
        return None

    def echo(progress) -> None:
        counts = ", ".join(f"{n} {what}" for what, n in progress.counts.items())
        say(
            f"{progress.job}: batch {progress.batch}: {counts} ({progress.seconds:.2f} s)", err=True
        )

    return echo


def echo_problems(source, problems: list[str], limit: int) -> None:
    """The bad lines a refused file holds, one per line on stderr, at most ``limit``."""
    for problem in problems[:limit]:
        say(f"{source}: {problem}", err=True)
    if len(problems) > limit:
        say(f"{source}: … and {len(problems) - limit} more", err=True)
