"""Values for command-line parameters: plausible ones, and the hostile ones a careless
or hostile user types (huge and non-finite numbers, control characters, surrogates,
blank and very long text, paths to FIFOs and devices)."""

import click
from hypothesis import strategies as st

from procobs_dagster.cli.params import CheckedText, FiniteFloatRange

# Text anything may hold: every category, surrogates (undecodable argv bytes) included.
ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=40)
ESCAPES = st.sampled_from(
    [
        "",
        " ",
        "\t",
        "\x00",
        "a\x1b[2J\x1b]0;title\x07",
        "alice\r\nmallory FAKE",
        "\u202eevil",
        "\udcff",
        "x" * 10_000,
        "😀" * 201,
        "-1",
        "--json",
        "PROC-CAND:" + "k" * 300,
    ]
)
NUMBER_TEXT = st.sampled_from(
    [
        "0",
        "-1",
        "1e300",
        "1e400",
        "inf",
        "-inf",
        "nan",
        "NaN",
        "9223372036854775807",
        "9223372036854775808",
        str(10**30),
        "9" * 5000,
        "1.5",
        "0x10",
        "٣",
        "²",
        " 1",
        "",
    ]
)
# Values of the kinds the commands name, so a plausible command is not refused at once.
CODES = st.sampled_from(
    [
        "PROC-CAND:dot:kg",
        "PROC-CAND:job:cut",
        "PROC-CAND:x",
        "DOT_KG_EXTRACT",
        "PROC:kg",
        "process.run.failed",
        "alice",
        "out",
        "042-kg-export",
        "head",
        "base",
        "-1",
        "completed=30",
        "failed=forever",
        "stuck=99999999999999",
        "01890a5d-ac96-774b-bcce-b302099a8057",
    ]
)


def hostile_text() -> st.SearchStrategy[str]:
    return st.one_of(ESCAPES, ANY_TEXT, NUMBER_TEXT)


def for_type(param_type: click.ParamType, files: list[str], outputs: list[str]):
    """A strategy of command-line words for one value of ``param_type``."""
    if isinstance(param_type, click.Choice):
        plausible = st.sampled_from([str(c) for c in param_type.choices])
    elif isinstance(param_type, click.IntRange | click.types.IntParamType):
        low = getattr(param_type, "min", None)
        high = getattr(param_type, "max", None)
        plausible = st.integers(low if low is not None else -5, high or 10**6).map(str)
        return st.one_of(plausible, NUMBER_TEXT, st.integers().map(str))
    elif isinstance(param_type, FiniteFloatRange | click.FloatRange | click.types.FloatParamType):
        plausible = st.floats(0.01, 1e6).map(repr)
        return st.one_of(plausible, NUMBER_TEXT, st.floats().map(repr))
    elif isinstance(param_type, click.Path):
        if param_type.dir_okay and not param_type.file_okay:
            return st.sampled_from(outputs + files)
        return st.one_of(st.sampled_from(files + outputs), hostile_text())
    elif isinstance(param_type, CheckedText) or param_type is click.STRING:
        plausible = CODES
    else:
        plausible = CODES
    return st.one_of(plausible, hostile_text())
