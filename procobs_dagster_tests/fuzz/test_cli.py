"""Every command with generated options and arguments keeps the rule (see the package)."""

import click
import pytest
from hypothesis import given
from hypothesis import strategies as st

from procobs_dagster.cli.failure import one_line
from procobs_dagster.errors import EXIT_INTERNAL, EXIT_OK
from procobs_dagster_tests.fuzz.commands import (
    ALWAYS,
    COMMANDS,
    LISTING,
    PARSE_ONLY,
    VERDICTS,
    Command,
)
from procobs_dagster_tests.fuzz.inputs import InputFiles
from procobs_dagster_tests.fuzz.profiles import FUZZ
from procobs_dagster_tests.fuzz.values import for_type
from procobs_dagster_tests.hostile import DOCUMENTED_EXIT_CODES, assert_no_traceback, assert_refused


@st.composite
def command_lines(draw, command: Command, files: list[str], outputs: list[str]) -> list[str]:
    """The command's words, then generated options and arguments in a generated order."""
    options, positional = [], []
    for param in command.params:
        if isinstance(param, click.Argument):
            if param.nargs > 0:
                count = param.nargs
            else:
                count = draw(st.integers(1 if param.required else 0, 3))
            positional += [draw(for_type(param.type, files, outputs)) for _ in range(count)]
        elif param.is_flag:
            if draw(st.booleans()):
                options.append([param.opts[0]])
        elif param.required or draw(st.booleans()):
            for _ in range(draw(st.integers(1, 2)) if param.multiple else 1):
                options.append([param.opts[0], draw(for_type(param.type, files, outputs))])
    order = draw(st.permutations(options))
    return [
        *command.path,
        *positional,
        *(word for option in order for word in option),
        *ALWAYS.get(command.path, ()),
    ]


RUN = [c for c in COMMANDS if c.path not in PARSE_ONLY]
PARSED = [c for c in COMMANDS if c.path in PARSE_ONLY]


@pytest.mark.parametrize("command", RUN, ids=lambda c: c.name)
def test_a_command_with_generated_input_keeps_the_rule(hostile, tmp_path, command):
    files = InputFiles(tmp_path / "inputs")

    @FUZZ
    @given(command_lines(command, files.readable(), files.writable()))
    def run(args):
        before = hostile.counts()
        outcome = hostile.run(*args, timeout=60)
        assert_no_traceback(outcome)
        # An internal error is documented too, but it is a bug the fuzzer found.
        assert outcome.exit_code in DOCUMENTED_EXIT_CODES - {EXIT_INTERNAL}, outcome
        if outcome.exit_code == EXIT_OK:
            return
        if outcome.stderr or command.path not in VERDICTS:
            assert_refused(outcome, listing=command.path in LISTING)
        assert hostile.counts() == before, f"a refused command wrote rows: {outcome}"

    run()


@pytest.mark.parametrize("command", PARSED, ids=lambda c: c.name)
def test_the_options_of_a_long_running_command_convert_or_refuse_in_one_line(tmp_path, command):
    files = InputFiles(tmp_path / "inputs")

    @FUZZ
    @given(command_lines(command, files.readable(), files.writable()))
    def parse(args):
        words = args[len(command.path) :]
        try:
            command.command.make_context(command.name, words)
        except click.exceptions.Exit:
            pass
        except click.UsageError as exc:
            assert "\n" not in one_line(exc.format_message())

    parse()
