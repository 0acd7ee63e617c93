"""The documentation is tested like the code it describes.

- Every ``procobs …`` command shown in README.md and docs/ — the lines of console and sh
  blocks, and inline code — names a command that exists and uses options that exist with
  the arguments shown. Each is parsed by click (``make_context`` on the resolved command),
  never run. An inline mention may leave out required arguments (it names a command);
  a command line in a block may not.
- Every python block of a page runs, in order, in one namespace, against a fresh SQLite
  database (PROCOBS_HOME and PROCOBS_DATABASE_URL in a temporary directory, which is also
  the working directory).
- No file of the repository points outside it: to a sibling checkout, or to the documents
  the project was first specified in. The requirements live in docs/design.md.

Synopsis notation of inline code (the README's tables, docs/cli.md): ``[…]`` is optional,
``[A | B]`` and ``(A | B)`` are alternatives, ``a|b`` outside brackets is one word or the
other, ``X…`` may be repeated, and UPPERCASE words (FILE, N, STATUS=DAYS, OUT.json) are
placeholders, replaced by a value of the type the option or argument takes.
"""

import dataclasses
import importlib.util
import itertools
import os
import re
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from procobs_dagster.cli import main

REPO = Path(__file__).resolve().parents[1]
PAGES = sorted([REPO / "README.md", *(REPO / "docs").rglob("*.md")])
SHELL_LANGUAGES = {"console", "sh", "shell", "bash", "shell-session"}
FENCE = re.compile(r"^ *(`{3,}|~{3,})\s*([\w+-]*)")
CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)", re.DOTALL)
PLACEHOLDER = re.compile(r"^[A-Z][A-Z0-9_]*(?:[=.][A-Za-z0-9_]+)?$")
ELLIPSES = ("…", "...")


def relative(path: Path) -> str:
    return str(path.relative_to(REPO))


# --- reading markdown ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Block:
    language: str
    line: int  # of the first line inside the fence
    text: str


@dataclasses.dataclass(frozen=True)
class Markdown:
    blocks: tuple[Block, ...]
    spans: tuple[tuple[int, str], ...]  # (line, inline code) outside the blocks


def _closes(line: str, fence: str) -> bool:
    bare = line.strip()
    return len(bare) >= len(fence) and not bare.strip(fence[0])


def read_markdown(text: str) -> Markdown:
    blocks, spans, prose, prose_start = [], [], [], 1
    fence, language, start, body = None, "", 0, []

    def flush_prose() -> None:
        joined = "\n".join(prose)
        for match in CODE_SPAN.finditer(joined):
            line = prose_start + joined.count("\n", 0, match.start())
            spans.append((line, " ".join(match.group(2).split())))
        prose.clear()

    for number, line in enumerate(text.splitlines(), start=1):
        opening = FENCE.match(line)
        if fence is None and opening:
            flush_prose()
            fence, language, start, body = opening.group(1), opening.group(2).lower(), number, []
        elif fence is not None and _closes(line, fence):
            blocks.append(Block(language, start + 1, "\n".join(body) + "\n"))
            fence, prose_start = None, number + 1
        elif fence is not None:
            body.append(line)
        else:
            prose.append(line)
    flush_prose()
    return Markdown(tuple(blocks), tuple(spans))


# --- command lines and synopses ---------------------------------------------------------


class Placeholder(str):
    """A word of a synopsis that stands for a value (FILE, N, STATUS=DAYS)."""


def split_words(text: str, *, shell: bool) -> list[str]:
    lexer = shlex.shlex(text, posix=True, punctuation_chars="[]()|;&<>" if shell else "[]()|")
    lexer.whitespace_split = True
    lexer.commenters = "#" if shell else ""
    words = []
    for word in lexer:
        # A run of punctuation is one token to shlex; brackets nest, so split them apart.
        if set(word) <= set("[]()") and len(word) > 1:
            words.extend(word)
        else:
            words.append(word)
    return words


def shell_commands(text: str) -> Iterator[list[str]]:
    """The simple commands of a shell line: split at | ; && ||, redirections and leading
    VAR=value assignments dropped, and the script of ``sh -c '…'`` read too."""
    words = split_words(text, shell=True)
    command: list[str] = []
    for word in [*words, ";"]:
        if word in ("|", "||", "&&", ";", "&"):
            while command and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", command[0]):
                command.pop(0)
            if command[:1] in (["sh"], ["bash"]) and command[1:2] == ["-c"] and len(command) > 2:
                yield from shell_commands(command[2])
            if command:
                yield command
            command = []
        else:
            command.append(word)


def _strip_redirections(words: list[str]) -> list[str]:
    """Redirections (> file, < file) are the shell's, not the command's."""
    kept, skip = [], False
    for word in words:
        if skip:
            skip = False
        elif word in (">", ">>", "<", "2>"):
            skip = True
        else:
            kept.append(word)
    return kept


def _parse_sequence(words: list[str], at: int, nested: bool) -> tuple[list, int]:
    """Items until a closing bracket (or ``|`` inside brackets): a word, a list of word
    alternatives, or a group ``("group", [alternatives…])``."""
    items: list = []
    while at < len(words):
        word = words[at]
        if word in ("]", ")") or (word == "|" and nested):
            return items, at
        if word in ("[", "("):
            alternatives, at = [], at + 1
            while True:
                sequence, at = _parse_sequence(words, at, nested=True)
                alternatives.append(sequence)
                if at >= len(words):
                    raise ValueError(f"unclosed {word}")
                if words[at] in ("]", ")"):
                    at += 1
                    break
                at += 1  # past |
            items.append(("group", alternatives))
            continue
        if word == "|":
            raise ValueError("| without a word before it")
        choices = [word]
        at += 1
        while not nested and at + 1 < len(words) and words[at] == "|":
            choices.append(words[at + 1])
            at += 2
        items.append(choices)
    if nested:
        raise ValueError("unclosed bracket")
    return items, at


def _expand(items: list) -> Iterator[list[str]]:
    options = []
    for item in items:
        if isinstance(item, tuple):
            options.append([v for alternative in item[1] for v in _expand(alternative)])
        else:
            options.append([[choice] for choice in item])
    for combination in itertools.product(*options):
        yield [word for part in combination for word in part]


def _mark_placeholders(words: list[str]) -> list[str]:
    marked = []
    for word in words:
        if word in ELLIPSES:
            continue
        bare = word
        for ellipsis in ELLIPSES:
            bare = bare.removesuffix(ellipsis)
        marked.append(Placeholder(bare) if PLACEHOLDER.match(bare) or bare != word else word)
    return marked


def synopsis_variants(words: list[str]) -> list[list[str]]:
    """Every concrete word list a synopsis stands for (optional groups included)."""
    items, at = _parse_sequence(words, 0, nested=False)
    if at != len(words):
        raise ValueError(f"unexpected {words[at]!r}")
    return [_mark_placeholders(variant) for variant in _expand(items)]


def _sample(param: click.Parameter, scratch: Path) -> str:
    kind = param.type
    if isinstance(kind, click.Choice):
        return str(kind.choices[0])
    if isinstance(kind, click.IntRange | click.FloatRange):
        return str(kind.min if kind.min is not None else 1)
    if isinstance(kind, click.types.IntParamType | click.types.FloatParamType):
        return "1"
    if isinstance(kind, click.Path):
        if kind.exists:
            existing = scratch / ("folder" if not kind.file_okay else "file")
            if kind.file_okay:
                existing.touch()
            else:
                existing.mkdir(exist_ok=True)
            return str(existing)
        return str(scratch / "out")
    return "x"


def _value(param: click.Parameter | None, word: str, scratch: Path) -> str:
    """The word itself, or a sample for a placeholder (or for a path that must exist:
    whether a file is there is a matter of running the command, not of its syntax)."""
    if param is None:
        return str(word)
    must_exist = isinstance(param.type, click.Path) and param.type.exists
    return _sample(param, scratch) if isinstance(word, Placeholder) or must_exist else str(word)


def _concrete(command: click.Command, words: list[str], scratch: Path) -> list[str]:
    options = {
        name: p
        for p in command.params
        if isinstance(p, click.Option)
        for name in (*p.opts, *p.secondary_opts)
    }
    arguments = [p for p in command.params if isinstance(p, click.Argument)]
    interspersed = command.context_settings.get("allow_interspersed_args", True)
    out, position, positional_only, at = [], 0, False, 0
    while at < len(words):
        word = words[at]
        if not positional_only and word == "--":
            positional_only = True
            out.append(word)
        elif not positional_only and word.startswith("--"):
            name, equals, _ = word.partition("=")
            out.append(str(word))
            param = options.get(name)
            takes_value = param is not None and not (param.is_flag or param.count)
            if takes_value and not equals and at + 1 < len(words):
                at += 1
                out.append(_value(param, words[at], scratch))
        else:
            param = arguments[min(position, len(arguments) - 1)] if arguments else None
            out.append(_value(param, word, scratch))
            if param is not None and param.nargs != -1:
                position += 1
            positional_only = positional_only or not interspersed
        at += 1
    return out


def check_invocation(words: list[str], scratch: Path, *, mention: bool) -> str | None:
    """None when ``words`` (starting with procobs) parse; else what is wrong.

    ``mention``: an inline reference, which may name a group or leave required
    arguments out."""
    command: click.Command = main
    path, at = ["procobs"], 1
    while isinstance(command, click.Group):
        while at < len(words) and words[at].startswith("-"):
            name, equals, _ = words[at].partition("=")
            if name in ("--help", "--version"):
                return None
            option = next(
                (p for p in command.params if isinstance(p, click.Option) and name in p.opts),
                None,
            )
            if option is None:
                return f"{' '.join(path)}: no such option {name}"
            at += 1 if (equals or option.is_flag) else 2
            if at > len(words):
                return f"{' '.join(path)}: option {name} needs a value"
        if at == len(words):
            return None if mention else f"{' '.join(path)}: names a group, not a command"
        if isinstance(words[at], Placeholder):
            return None  # `procobs COMMAND …`: any command
        sub = command.get_command(click.Context(command), words[at])
        if sub is None:
            return f"{' '.join(path)}: no such command {words[at]!r}"
        path.append(words[at])
        command, at = sub, at + 1
    args = _concrete(command, words[at:], scratch)
    try:
        command.make_context(" ".join(path), args)
    except click.exceptions.Exit:
        return None  # --help
    except click.MissingParameter as exc:
        if not mention:
            return f"{' '.join(path)}: {exc.format_message()}"
    except click.UsageError as exc:
        return f"{' '.join(path)}: {exc.format_message()}"
    return None


@dataclasses.dataclass(frozen=True)
class Shown:
    line: int
    text: str
    words: tuple[str, ...]
    mention: bool  # inline code, not a command line of a block


def _shell_lines(block: Block) -> Iterator[tuple[int, str]]:
    """(line number, command line) of a shell block: continuation backslashes and quotes
    left open join lines; in a console block only ``$ `` lines are commands."""
    lines = block.text.splitlines()
    at = 0
    while at < len(lines):
        first, line = at, lines[at]
        at += 1
        if block.language == "console":
            if not line.lstrip().startswith("$ "):
                continue  # output
            line = line.lstrip()[2:]
        while at < len(lines):
            if line.endswith("\\"):
                line = line[:-1] + " " + lines[at].strip()
            elif _open_quote(line):
                line = line + "\n" + lines[at]
            else:
                break
            at += 1
        yield block.line + first, line


def _open_quote(line: str) -> bool:
    try:
        split_words(line, shell=True)
    except ValueError:
        return True
    return False


def shown_commands(markdown: Markdown) -> Iterator[Shown]:
    for block in markdown.blocks:
        if block.language not in SHELL_LANGUAGES:
            continue
        for line, command_line in _shell_lines(block):
            if _open_quote(command_line):
                if "procobs" in command_line:
                    yield Shown(line, command_line, (), mention=False)  # unreadable
                continue
            for words in shell_commands(command_line):
                words = _strip_redirections(words)
                if words and words[0] == "procobs":
                    yield Shown(line, " ".join(words), tuple(words), mention=False)
    for line, code in markdown.spans:
        code = code.replace("\\|", "|")
        if code == "procobs" or code.startswith("procobs "):
            yield Shown(line, code, tuple(split_words(code, shell=False)), mention=True)


def command_problems(text: str, scratch: Path) -> list[str]:
    problems = []
    for shown in shown_commands(read_markdown(text)):
        if not shown.words:
            problems.append(f"line {shown.line}: `{shown.text}`: a quote is never closed")
            continue
        try:
            variants = synopsis_variants(list(shown.words))
        except ValueError as exc:
            problems.append(f"line {shown.line}: `{shown.text}`: unreadable synopsis: {exc}")
            continue
        for variant in variants:
            problem = check_invocation(variant, scratch, mention=shown.mention)
            if problem:
                problems.append(f"line {shown.line}: `{shown.text}`: {problem}")
                break
    return problems


@pytest.mark.parametrize("page", PAGES, ids=relative)
def test_every_command_shown_exists_with_the_options_shown(page, tmp_path):
    problems = command_problems(page.read_text(), tmp_path)
    assert not problems, f"{relative(page)}:\n" + "\n".join(problems)


def _leaf_commands(group: click.Group, path: tuple[str, ...]) -> Iterator[tuple]:
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from _leaf_commands(command, (*path, name))
        else:
            yield (*path, name), command


def test_the_cli_reference_names_every_command_and_option():
    markdown = read_markdown((REPO / "docs" / "cli.md").read_text())
    shown = [s.words for s in shown_commands(markdown)]
    missing = []
    for path, command in _leaf_commands(main, ("procobs",)):
        mine = [w for w in shown if tuple(w[: len(path)]) == path]
        if not mine:
            missing.append(" ".join(path))
            continue
        used = {w.split("=")[0] for words in mine for w in words}
        for param in command.params:
            shown_option = isinstance(param, click.Option) and set(param.opts) & used
            if isinstance(param, click.Option) and param.opts[0] != "--help" and not shown_option:
                missing.append(f"{' '.join(path)} {param.opts[0]}")
    assert not missing, "docs/cli.md does not show: " + ", ".join(missing)


# --- python examples --------------------------------------------------------------------


def python_blocks(text: str) -> list[Block]:
    return [b for b in read_markdown(text).blocks if b.language == "python"]


def run_python_blocks(blocks: list[Block], name: str) -> dict:
    namespace: dict = {"__name__": "docs_example_" + re.sub(r"\W", "_", name)}
    for block in blocks:
        # Padded so a traceback names the page and the line of the page that failed.
        exec(compile("\n" * (block.line - 1) + block.text, name, "exec"), namespace)
    return namespace


PYTHON_PAGES = [page for page in PAGES if python_blocks(page.read_text())]


def _needs_pm4py(blocks: list[Block]) -> bool:
    return any(re.search(r"^\s*import pm4py", b.text, re.MULTILINE) for b in blocks)


@pytest.mark.parametrize("page", PYTHON_PAGES, ids=relative)
def test_python_examples_run_against_a_fresh_database(page, tmp_path, monkeypatch):
    blocks = python_blocks(page.read_text())
    if _needs_pm4py(blocks) and importlib.util.find_spec("pm4py") is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{relative(page)} needs pm4py (pip install 'procobs-dagster[ocel]')")
        pytest.skip("pm4py (the ocel extra) is not installed")
    home = tmp_path / ".procobs"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PROCOBS_HOME", str(home))
    monkeypatch.setenv("PROCOBS_DATABASE_URL", f"sqlite:///{home / 'procobs.db'}")
    for variable in (
        "PROCOBS_SINKS_FILE",
        "PROCOBS_CATALOG",
        "PROCOBS_PROCESS_RUN_ID",
        "PROCOBS_CORRELATION_ID",
        "PROCOBS_DRY_RUN",
    ):
        monkeypatch.delenv(variable, raising=False)
    namespace = run_python_blocks(blocks, relative(page))
    for value in namespace.values():
        dispose = getattr(value, "dispose", None)
        if callable(dispose) and type(value).__name__ == "Database":
            dispose()


def test_the_docs_show_commands_and_runnable_examples():
    """Guards the two tests above against checking nothing (a fence the reader misses)."""
    shown = [s for page in PAGES for s in shown_commands(read_markdown(page.read_text()))]
    assert len([s for s in shown if not s.mention]) >= 20
    assert len([s for s in shown if s.mention]) >= 50
    assert {"README.md", "docs/ledger.md", "docs/observing.md", "docs/events.md"} <= {
        relative(p) for p in PYTHON_PAGES
    }


# --- nothing outside the repository -------------------------------------------------------

FORBIDDEN = [
    (re.compile(r"\.\./shared\b"), "a path outside the repository"),
    (re.compile(r"\bshared/seed"), "the original specification's folder"),
    (re.compile(r"\bDESIGN\.md\b"), "a design document outside the repository"),
    (re.compile(r"\bseeds?\s*(?:#\s*)?\d{3}\b", re.IGNORECASE), "a specification document"),
    (re.compile(r"\bthe\s+seeds?\b|\bseed's\b|\bseed[ _]packet", re.IGNORECASE), "the spec"),
    # In names of constants and tests; a random seed, or a table seeded by a migration, is fine.
    (
        re.compile(r"(?:^|[^a-z])s[e]eds?_|_s[e]eds?(?:$|[^a-z])", re.IGNORECASE),
        "the spec, in a name",
    ),
]
SKIPPED_DIRECTORIES = {
    ".git",
    ".venv",
    ".procobs",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    ".hypothesis",
    "build",
    "dist",
}


def repository_files() -> list[Path]:
    """The files git tracks (and new ones it does not ignore); without git, the tree."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPO,
            capture_output=True,
            check=True,
        ).stdout.decode()
        return sorted({REPO / name for name in listed.split("\0") if name})
    except (OSError, subprocess.CalledProcessError):
        found = []
        for root, directories, files in os.walk(REPO):
            directories[:] = [
                d
                for d in directories
                if d not in SKIPPED_DIRECTORIES and not d.endswith(".egg-info")
            ]
            found += [Path(root) / name for name in files]
        return sorted(found)


def forbidden_references(text: str) -> list[tuple[int, str, str]]:
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        for pattern, what in FORBIDDEN:
            if pattern.search(line):
                found.append((number, what, line.strip()))
    return found


def test_no_file_refers_outside_the_repository():
    problems = []
    files = repository_files()
    assert REPO / "README.md" in files
    for path in files:
        if not path.is_file():
            continue  # deleted in the work tree, not yet in the index
        data = path.read_bytes()
        if b"\0" in data:
            continue
        try:
            text = data.decode()
        except UnicodeDecodeError:
            continue
        problems += [
            f"{relative(path)}:{n}: {what}: {line}" for n, what, line in forbidden_references(text)
        ]
    assert not problems, "\n".join(problems)


# --- each check can fail ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("markdown", "complaint"),
    [
        ("```console\n$ procobs relay run --bogus\n```\n", "no such option"),
        ("```console\n$ procobs relay launch\n```\n", "no such command"),
        ("```sh\nprocobs retention run --dry-run yes\n```\n", "unexpected extra argument"),
        ("```sh\nprocobs relay run --batch\n```\n", "requires an argument"),
        ("```console\n$ procobs birth PROC-CAND:dot:kg --approved-by alice\n```\n", "Missing"),
        ("```console\n$ procobs events types --family process-mining\n```\n", "is not one of"),
        ("See `procobs sweep stuck --sla SECONDS --grace N`.\n", "no such option"),
        ("See `procobs events status --approved-by NAME`.\n", "no such option"),
        (
            "```sh\nsh -c 'procobs observe --candidate C --dot D -- true && procobs nope'\n```\n",
            "no such command",
        ),
        ("| `procobs dossier scan PATH [--manifest FILE \\| --nope]` |\n", "no such option"),
        ("```console\n$ procobs --database-urls x db status\n```\n", "no such option"),
        ("```sh\nprocobs sweep sla set C 60 --reason 'never closed\n```\n", "never closed"),
    ],
)
def test_a_wrong_command_is_reported(markdown, complaint, tmp_path):
    problems = command_problems(markdown, tmp_path)
    assert len(problems) == 1, problems
    assert complaint.lower() in problems[0].lower()


@pytest.mark.parametrize(
    "markdown",
    [
        "```console\n$ procobs dossier drift 042-kg-export   # exit 1 on drift\n```\n",
        "```sh\nPROCOBS_SINKS_FILE=s.yaml procobs relay run --once | tee out.txt\n```\n",
        "Mentions: `procobs relay`, `procobs birth`, `procobs db upgrade [REV]`.\n",
        "| `procobs events emission on\\|off --approved-by NAME` |\n",
        "`procobs relay redrive (EVENT_ID… | --all) [--sink NAME] [--actor NAME]`\n",
        "`procobs discovery export-ocel OUT.json|OUT.sqlite [--candidate C]`\n",
        "`procobs observe --candidate C --dot D [--role R] -- CMD…`\n",
        "`procobs retention run [--keep STATUS=DAYS]…`\n",
        "```console\n$ procobs relay import-sinks sinks.yaml\n```\n",
        "```sh\nprocobs sweep sla set C 60 --reason 'spans\ntwo lines'\n```\n",
    ],
)
def test_a_right_command_passes(markdown, tmp_path):
    assert command_problems(markdown, tmp_path) == []


def test_a_failing_example_names_its_page_and_line():
    blocks = python_blocks("Intro.\n\n```python\nx = 1\n```\n\n```python\nassert x == 2\n```\n")
    with pytest.raises(AssertionError) as raised:
        run_python_blocks(blocks, "docs/page.md")
    where = raised.traceback[-1]
    assert (str(where.path), where.lineno + 1) == ("docs/page.md", 8)


def test_a_reference_outside_the_repository_is_found():
    outside = "../" + "shared"
    samples = [
        f"see {outside}/notes",
        "as " + "Seed" + " 002 §2.4 says",
        "the " + "seeds" + " ask for it",
        "DESIGN" + ".md, Storage",
        "def test_default_policy_is_the_" + "seeds():",
    ]
    assert [len(forbidden_references(s)) for s in samples] == [1, 1, 1, 1, 1]
    assert forbidden_references("rng = random.Random(seed)  # seeded by migration 0002") == []


# --- citations of the docs in code and pages --------------------------------------------

# `(docs/design.md, "The verified bar")`, possibly wrapped over comment lines.
CITATION = re.compile(r'(docs/[\w/.-]+\.md),\s*"([^"]+)"')
COMMENT_WRAP = re.compile(r"\n\s*(?:#|//|\*)?\s*")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def cited_sections(text: str) -> list[tuple[str, str]]:
    """(page, heading) of every citation, a citation wrapped over comment lines included."""
    return [(m.group(1), m.group(2)) for m in CITATION.finditer(COMMENT_WRAP.sub(" ", text))]


def broken_citations(text: str) -> list[str]:
    problems = []
    for page, heading in cited_sections(text):
        target = REPO / page
        if not target.is_file():
            problems.append(f"{page} does not exist")
        elif heading not in HEADING.findall(target.read_text()):
            problems.append(f'{page} has no section "{heading}"')
    return problems


def test_every_section_a_file_cites_exists():
    problems = []
    for path in repository_files():
        cites = path.suffix in {".py", ".md", ".yaml", ".json", ".sql", ".toml"}
        if not cites or not path.is_file() or path == Path(__file__):
            continue  # this file's samples cite a missing section on purpose
        problems += [f"{relative(path)}: {p}" for p in broken_citations(path.read_text())]
    assert not problems, "\n".join(problems)


def test_a_broken_citation_is_found():
    text = (
        '# the rule (docs/design.md,\n# "The verified bar"); see (docs/design.md, "No such part")'
    )
    assert cited_sections(text) == [
        ("docs/design.md", "The verified bar"),
        ("docs/design.md", "No such part"),
    ]
    assert broken_citations(text) == ['docs/design.md has no section "No such part"']
