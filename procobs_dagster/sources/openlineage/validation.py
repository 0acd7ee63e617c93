"""Is a document an OpenLineage event procobs accepts? Checked against the JSON Schema of
the spec version its ``schemaURL`` names, shipped with procobs (no network), then against
procobs's own bounds.

The schemas in ``schemas/`` were written for procobs from the OpenLineage specification
(no installed package ships the spec's own): ``run-event-1.json`` for spec 1-0-0 to 1-0-5
(run events only; RUNNING from 1-0-3 on), ``run-event-2.json`` for 2-0-0 to 2-0-2 (run,
job and dataset events).
"""

import datetime as dt
import functools
import json
import re
import uuid
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import jsonschema
from jsonschema.exceptions import best_match

from procobs_dagster.errors import InvalidInput
from procobs_dagster.limits import (
    MAX_INGEST_FILE_BYTES,
    clipped,
    is_control,
    json_document_problem,
)

# Spec version → (schema file, the definition a run event is checked against).
SPEC_VERSIONS = {
    **{f"1-0-{n}": ("run-event-1.json", "RunEventBeforeRunning") for n in (0, 1, 2)},
    **{f"1-0-{n}": ("run-event-1.json", "RunEvent") for n in (3, 4, 5)},
    **{f"2-0-{n}": ("run-event-2.json", "RunEvent") for n in (0, 1, 2)},
}
ACCEPTED_VERSIONS = "1-0-0 to 1-0-5 and 2-0-0 to 2-0-2"
_SCHEMA_URL = re.compile(
    r"^https?://openlineage\.io/spec/(?P<version>\d+-\d+-\d+)/OpenLineage\.json(?:#.*)?$"
)
_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$"
)

# procobs's bounds, the same on both databases. A job's namespace and name become an
# (indexed) candidate code and dot_code: together they stay well inside a Postgres index
# entry. A dataset's only become evidence.
MAX_LENGTHS = {"job": (200, 1000), "dataset": (1000, 4000)}
MAX_JOB_BYTES = 2000
MAX_SHOWN = 120  # characters of a refused value quoted in an error

RUN, JOB, DATASET = "run", "job", "dataset"


class InvalidEvent(InvalidInput):
    """An event procobs does not accept; the message names the field and the problem."""


def validate(document: Any) -> str:
    """Check one event; return what it is about — ``run`` (a run event, which procobs
    records), ``job`` or ``dataset`` (static metadata, which it has nothing to record of).
    Raises InvalidEvent naming the first problem found."""
    if not isinstance(document, dict):
        raise InvalidEvent(f"an event is a JSON object, not {_json_kind(document)}")
    # The event is kept as it came (workflow_event.document): what one database's JSON
    # cannot hold (a NUL, a surrogate) is refused on both. Its size is the body's or the
    # line's limit.
    problem = json_document_problem(document, maximum_bytes=MAX_INGEST_FILE_BYTES)
    if problem is not None:
        raise InvalidEvent(f"the event {clipped(problem, MAX_SHOWN * 2)}")  # keys are quoted
    version = _spec_version(document.get("schemaURL"))
    schema_file, run_definition = SPEC_VERSIONS[version]
    if "run" in document:
        about, definition = RUN, run_definition
    elif version.startswith("1-"):
        raise InvalidEvent(f"run: required (spec {version} knows run events only)")
    elif "dataset" in document:
        about, definition = DATASET, "DatasetEvent"
    elif "job" in document:
        about, definition = JOB, "JobEvent"
    else:
        raise InvalidEvent("an OpenLineage event has a run, a job or a dataset: none given")
    error = best_match(_validator(schema_file, definition).iter_errors(document))
    if error is not None:
        raise InvalidEvent(f"{_path(error.absolute_path)}: {_message(error)}")
    if about != DATASET:
        job = document["job"]
        _check_names("job", job, MAX_LENGTHS["job"])
        if len(f"{job['namespace']}/{job['name']}".encode()) > MAX_JOB_BYTES:
            raise InvalidEvent(f"job: namespace and name together pass {MAX_JOB_BYTES} bytes")
    for index, dataset in enumerate(document.get("outputs") or []):
        _check_names(f"outputs[{index}]", dataset, MAX_LENGTHS["dataset"])
    return about


def _spec_version(schema_url: Any) -> str:
    if not isinstance(schema_url, str):
        raise InvalidEvent(
            "schemaURL: required, the OpenLineage spec the event follows "
            f"(procobs accepts {ACCEPTED_VERSIONS})"
        )
    match = _SCHEMA_URL.match(schema_url)
    version = match["version"] if match else None
    if version not in SPEC_VERSIONS:
        raise InvalidEvent(
            f"schemaURL: {_shown(schema_url)} is not an OpenLineage spec procobs accepts "
            f"({ACCEPTED_VERSIONS})"
        )
    return version


def _check_names(where: str, named: dict, limits: tuple[int, int]) -> None:
    """A namespace and a name: not empty, bounded, no control characters."""
    for field, limit in zip(("namespace", "name"), limits, strict=True):
        value = named[field]
        if not value.strip():
            raise InvalidEvent(f"{where}.{field}: must not be empty")
        if len(value) > limit:
            raise InvalidEvent(f"{where}.{field}: longer than {limit} characters")
        # Every control character of the limits (a bidi override, a surrogate too): the
        # job's name becomes a candidate code, an identifier.
        if any(is_control(ch) for ch in value):
            raise InvalidEvent(f"{where}.{field}: {_shown(value)} contains a control character")


@functools.cache
def _schema(schema_file: str) -> dict:
    source = resources.files("procobs_dagster.sources.openlineage") / "schemas" / schema_file
    return json.loads(source.read_text())


@functools.cache
def _validator(schema_file: str, definition: str) -> jsonschema.Draft202012Validator:
    schema = {**_schema(schema_file), "$ref": f"#/$defs/{definition}"}
    schema.pop("oneOf", None)
    return jsonschema.Draft202012Validator(schema, format_checker=_FORMATS)


_FORMATS = jsonschema.FormatChecker(formats=())


@_FORMATS.checks("uuid")
def _is_uuid(value: object) -> bool:
    if not isinstance(value, str):
        return True  # the type keyword judges non-strings
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return len(value) == 36


@_FORMATS.checks("date-time")
def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _RFC3339.match(value):
        return False
    try:
        # In UTC too: year 1 at +14:00 is a valid date-time no datetime can hold in UTC.
        dt.datetime.fromisoformat(value).astimezone(dt.UTC)
    except (ValueError, OverflowError):
        return False
    return True


@_FORMATS.checks("uri")
def _is_uri(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return bool(parts.scheme) and bool(parts.netloc or parts.path) and " " not in value


def _path(path) -> str:
    words = []
    for part in path:
        if isinstance(part, int):
            words.append(f"[{part}]")
        else:
            words.append(f".{part}" if words else str(part))
    return "".join(words) or "event"


_FORMAT_WORDS = {
    "uuid": "a UUID",
    "date-time": "an RFC 3339 date-time with a timezone",
    "uri": "a URI",
}


def _message(error: jsonschema.ValidationError) -> str:
    """The error in one short line; a long offending value is not quoted in full."""
    if error.validator == "format":
        return f"{_shown(error.instance)} is not {_FORMAT_WORDS.get(error.validator_value)}"
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return f"{missing!r} is required"
    if error.validator == "type":
        return f"{_shown(error.instance)} is not of type {error.validator_value!r}"
    if error.validator == "enum":
        allowed = ", ".join(str(v) for v in error.validator_value)
        return f"{_shown(error.instance)} is not one of {allowed}"
    return _shown(error.message, MAX_SHOWN * 2)


def _shown(value: Any, limit: int = MAX_SHOWN) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = repr(text) if isinstance(value, str) else text
    text = "".join("?" if is_control(ch) else ch for ch in text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    return "a number"
