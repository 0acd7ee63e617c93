"""Every `procobs` command, found by walking the click tree, and how to fuzz each.

A new command is fuzzed without a change here. The few entries below say what a
command needs to be run safely in a test: observe runs `true`, the relay one cycle;
a command that serves or runs the whole demo is only parsed (its options converted),
never run.
"""

import dataclasses

import click

from procobs_dagster.cli import main

# Never generated: flags that confirm a destructive command. Without them such a command
# must refuse (no terminal is attached), which is the rule under test.
NEVER = frozenset({"--yes", "--drop-births", "--help", "--version"})
# Always appended: what makes the command finish in a test.
ALWAYS = {
    ("observe",): ("--", "true"),
    ("relay", "run"): ("--once",),
}
# Run for long or start servers: their parameters are converted, the command not run.
PARSE_ONLY = frozenset({("serve",), ("demo",)})
# Ends non-zero with its verdict on stdout and nothing on stderr.
VERDICTS = frozenset({("dossier", "drift"), ("db", "rehearse")})
# List a refused file's bad lines before their one-line error.
LISTING = frozenset({("events", "ingest"), ("workflow", "ingest")})
# Replaced by ALWAYS: observe's COMMAND (never a generated program to run).
FIXED_PARAMS = {("observe",): {"command"}}


@dataclasses.dataclass(frozen=True)
class Command:
    path: tuple[str, ...]
    command: click.Command

    @property
    def name(self) -> str:
        return " ".join(self.path)

    @property
    def params(self) -> list[click.Parameter]:
        fixed = FIXED_PARAMS.get(self.path, set())
        return [p for p in self.command.params if p.name not in fixed and not (set(p.opts) & NEVER)]


def walk(group: click.Group = main, prefix: tuple[str, ...] = ()) -> list[Command]:
    found = []
    for name in sorted(group.commands):
        command = group.commands[name]
        if isinstance(command, click.Group):
            found += walk(command, (*prefix, name))
        else:
            found.append(Command((*prefix, name), command))
    return found


COMMANDS = walk()
