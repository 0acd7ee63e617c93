"""Every file format procobs reads, as a fuzzing target: a good document of its kind, the
command that reads it, and how its text is generated — the good document with some
values replaced by hostile ones, keys given twice, nesting, aliases, raw garbage.

Adding a format is one entry of DOCUMENTS.
"""

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

from procobs_dagster.discovery.catalog import sample_catalog_path
from procobs_dagster.dossier import manifest
from procobs_dagster_tests.fuzz.inputs import InputFiles, _packet
from procobs_dagster_tests.fuzz.values import hostile_text
from procobs_dagster_tests.sources.helpers import dag_run

SCALARS = st.one_of(
    hostile_text(),
    st.integers(),
    st.sampled_from([2**63, -(2**63) - 1, 10**30, 0, -1, True, False, None]),
    st.floats(),
    st.sampled_from(["2026-03-05T10:00:00Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(hostile_text(), inner, max_size=3)
    ),
    max_leaves=8,
)


def _paths(document: Any, prefix: tuple = ()) -> list[tuple]:
    """Every place in ``document`` a value sits (dict keys and list indexes)."""
    found = [prefix] if prefix else []
    if isinstance(document, dict):
        for key, value in document.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found += _paths(value, (*prefix, index))
    return found


def _replaced(document: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(document, dict):
        return {**document, head: _replaced(document[head], rest, value)}
    copy = list(document)
    copy[head] = _replaced(copy[head], rest, value)
    return copy


@st.composite
def mutated(draw, base: Any) -> Any:
    """``base`` with one to three of its values replaced by generated ones."""
    places = _paths(base)
    document = base
    for path in draw(st.lists(st.sampled_from(places), min_size=1, max_size=3)):
        try:
            document = _replaced(document, path, draw(VALUES))
        except (KeyError, IndexError, TypeError):
            continue  # an earlier replacement removed the place
    return document


DEEP = st.integers(30, 3000).map(lambda n: "[" * n + "]" * n)
GARBAGE = st.one_of(st.binary(max_size=200).map(lambda b: b.decode("latin-1")), DEEP)


def yaml_text(base: dict) -> st.SearchStrategy[str]:
    dumped = mutated(base).map(lambda d: yaml.safe_dump(d, allow_unicode=True, sort_keys=False))
    first_key = next(iter(base))
    twice = dumped.map(lambda text: text + f"{first_key}: again\n")
    laughs = st.just("a: &a [x, x]\nb: [*a, *a]\n" + yaml.safe_dump(base))
    return st.one_of(dumped, dumped, twice, laughs, GARBAGE)


def _json(document: Any) -> str:
    return json.dumps(document, ensure_ascii=False, default=str)


def json_text(base: dict) -> st.SearchStrategy[str]:
    return st.one_of(mutated(base).map(_json), GARBAGE)


def json_lines(bases: list[dict]) -> st.SearchStrategy[str]:
    line = st.one_of(
        st.sampled_from(bases).map(_json),
        st.sampled_from(bases).flatmap(lambda b: mutated(b).map(_json)),
        GARBAGE.map(lambda g: g.replace("\n", " ")),
    )
    return st.lists(line, min_size=1, max_size=6).map(lambda lines: "\n".join(lines) + "\n")


@dataclasses.dataclass(frozen=True)
class Document:
    name: str
    reading: Callable[[Path, InputFiles], tuple[str, ...]]  # the command that reads it
    text: st.SearchStrategy[str]
    listing: bool = False  # the command lists the bad lines before its error


MANIFEST = yaml.safe_load(
    (Path(manifest.__file__).parent / "manifests" / manifest.DEFAULT_MANIFEST).read_text()
)
CATALOG = yaml.safe_load(sample_catalog_path().read_text())
SINKS = {"sinks": [{"name": "out", "kind": "null"}, {"name": "f", "kind": "file", "path": "/x"}]}
DOMAIN_EVENTS = [
    {"event_type": "plan.created", "timestamp": "2026-03-05T10:00:00Z", "plan_id": "p1"},
    {
        "event_type": "tool.invoked",
        "timestamp": "2026-03-05T10:00:01Z",
        "plan_id": "p1",
        "details": {"tool_name": "pytest", "invocation_id": "c1"},
    },
    {"event_type": "plan.errored", "timestamp": "2026-03-05T10:00:02Z", "plan_id": "p1",
     "details": {"error": "boom"}},
]  # fmt: skip
OPENLINEAGE_EVENTS = dag_run()[1]

DOCUMENTS = [
    Document(
        "manifest",
        lambda f, files: ("dossier", "scan", str(files.mission), "--feature", "f",
                          "--manifest", str(f)),
        yaml_text(MANIFEST),
    ),
    Document("catalog", lambda f, _: ("discovery", "score", "--catalog", str(f)),
             yaml_text(CATALOG)),
    Document("sinks file", lambda f, _: ("relay", "import-sinks", str(f)), yaml_text(SINKS)),
    Document("activation packet", lambda f, _: ("events", "activation", "show", str(f)),
             json_text(_packet())),
    Document("domain events", lambda f, _: ("events", "ingest", str(f)),
             json_lines(DOMAIN_EVENTS), listing=True),
    Document("OpenLineage events", lambda f, _: ("workflow", "ingest", str(f)),
             json_lines(OPENLINEAGE_EVENTS), listing=True),
]  # fmt: skip
