"""Files and YAML (hostile input, issue 14: F1-F7, Y1-Y3).

Every file a command reads is a regular UTF-8 file within its size limit, read without
waiting on a FIFO; YAML with a key given twice, an alias or deep nesting is refused; a
file a command writes never goes into a FIFO or a device. Each refusal is one line,
writes nothing, and never hangs (a deadline fails the test instead).
"""

import json
import os
from pathlib import Path

import pytest

from procobs_dagster import limits
from procobs_dagster.dossier import walk
from procobs_dagster.errors import EXIT_REFUSED, EXIT_USAGE
from procobs_dagster_tests.discovery.helpers import KG
from procobs_dagster_tests.dossier.helpers import put
from procobs_dagster_tests.hostile import assert_refused
from procobs_dagster_tests.sources.helpers import ol_event, run_id

# Every command that reads a file a user names; FILE stands for that file.
READERS = {
    "birth --catalog": ("birth", KG, "--definition-code", "PROC:kg", "--approved-by", "alice",
                        "--catalog", "FILE"),
    "discovery score --catalog": ("discovery", "score", "--catalog", "FILE"),
    "discovery explain --catalog": ("discovery", "explain", KG, "--catalog", "FILE"),
    "dossier scan --manifest": ("dossier", "scan", "MISSION", "--feature", "f", "--manifest",
                                "FILE"),
    "events activation apply": ("events", "activation", "apply", "FILE", "--approved-by", "al"),
    "events activation show": ("events", "activation", "show", "FILE"),
    "events ingest": ("events", "ingest", "FILE"),
    "relay import-sinks": ("relay", "import-sinks", "FILE"),
    "relay run --sinks": ("relay", "run", "--once", "--sinks", "FILE"),
    "relay sinks --sinks": ("relay", "sinks", "--sinks", "FILE"),
    "workflow ingest": ("workflow", "ingest", "FILE"),
}  # fmt: skip


def _inputs(tmp_path: Path) -> dict[str, tuple[str, str]]:
    """name → (path, what the one-line refusal says)."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    (tmp_path / "fifo-link.yaml").symlink_to(fifo)
    (tmp_path / "zero-link.yaml").symlink_to("/dev/zero")
    (tmp_path / "random.yaml").write_bytes(bytes(range(256)) * 8)
    (tmp_path / "latin1.yaml").write_bytes(b"caf\xe9: 1\n")
    huge = tmp_path / "huge.yaml"
    with huge.open("wb") as sparse:
        sparse.truncate(limits.MAX_INGEST_FILE_BYTES + 1)
    return {
        "fifo": (str(fifo), "is a FIFO, not a regular file"),
        "link to a fifo": (str(tmp_path / "fifo-link.yaml"), "is a FIFO"),
        "/dev/zero": ("/dev/zero", "is a character device"),
        "link to /dev/zero": (str(tmp_path / "zero-link.yaml"), "is a character device"),
        "missing": (str(tmp_path / "missing.yaml"), "does not exist|No such file"),
        "random bytes": (str(tmp_path / "random.yaml"), "UTF-8|not valid YAML|not JSON"),
        "latin-1": (str(tmp_path / "latin1.yaml"), "is not UTF-8 text (byte 0xe9 at offset 3)"),
        "over the size limit": (str(huge), "larger than the limit of"),
        # A name past 255 bytes: an output folder or mission folder so named was an
        # internal error (exit 4, OSError from is_dir).
        "name too long": (str(tmp_path / ("n" * 300) / "x.yaml"), "longer than the file system"),
    }


@pytest.fixture
def mission(tmp_path):
    root = tmp_path / "mission"
    put(root, "spec.md")
    return root


@pytest.mark.parametrize("reader", READERS)
def test_f1_to_f4_every_reader_refuses_what_is_not_a_regular_readable_file(
    hostile, tmp_path, mission, reader
):
    for name, (path, says) in _inputs(tmp_path).items():
        args = [str(mission) if a == "MISSION" else path if a == "FILE" else a
                for a in READERS[reader]]  # fmt: skip
        message = hostile.refused(*args, timeout=20)
        alternatives = says.split("|")
        assert any(s in message for s in alternatives), f"{reader} / {name}: {message}"


def test_f5_outputs_are_checked_before_anything_is_read_or_written(hostile, tmp_path):
    fifo = tmp_path / "out.json"
    os.mkfifo(fifo)
    stage = ("events", "activation", "stage", "process.run.failed")
    assert "is not a directory" in hostile.refused(
        *stage, "--out", str(tmp_path / "nodir" / "x.json"), exit_code=EXIT_REFUSED
    )
    assert "not a regular file" in hostile.refused(
        *stage, "--out", str(fifo), timeout=20, exit_code=EXIT_REFUSED
    )
    assert "not a regular file" in hostile.refused(
        "discovery", "export-ocel", str(fifo), "--yes", timeout=20, exit_code=EXIT_REFUSED
    )
    assert "is not a directory" in hostile.refused(
        "events", "schemas", "--out", "/dev/null", exit_code=EXIT_REFUSED
    )


# /proc/self is a folder no file can be created in (as a read-only mount is, or one
# the user may not write, which root may): each was an internal error (exit 4).
@pytest.mark.parametrize(
    "args",
    [
        ("discovery", "export-ocel", "/proc/self/x.json", "--yes"),
        ("discovery", "export-ocel", "/proc/self/x.sqlite", "--yes"),
        ("events", "schemas", "--out", "/proc/self", "--yes"),
        ("db", "render-sql", "--out", "/proc/self", "--yes"),
        ("events", "activation", "stage", "process.run.failed", "--out", "/proc/self/x.json"),
    ],
    ids=lambda args: " ".join(args[:4]),
)
def test_f5_a_folder_no_file_can_be_written_in_is_one_line(hostile, args):
    assert "cannot write" in hostile.refused(*args, exit_code=EXIT_REFUSED)


@pytest.mark.parametrize("command", [("events", "schemas"), ("db", "render-sql")])
def test_f5_an_output_folder_that_is_a_link_loop_is_one_line(hostile, tmp_path, command):
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    message = hostile.refused(*command, "--out", str(tmp_path / "a"), "--yes")
    assert "not a directory" in message


@pytest.mark.parametrize(
    "args",
    [
        ("discovery", "export-ocel", "LONG/x.json", "--yes"),
        ("events", "schemas", "--out", "LONG", "--yes"),
        ("db", "render-sql", "--out", "LONG", "--yes"),
        ("events", "activation", "stage", "process.run.failed", "--out", "LONG/x.json"),
        ("dossier", "scan", "LONG", "--feature", "f"),
    ],
    ids=lambda args: " ".join(args[:2]),
)
def test_f5_a_path_longer_than_the_file_system_takes_is_a_usage_error(hostile, tmp_path, args):
    long = str(tmp_path / ("n" * 300))
    message = hostile.refused(*(a.replace("LONG", long) for a in args), exit_code=EXIT_USAGE)
    assert "the path is longer than the file system takes" in message


def test_f7_a_link_that_cannot_be_resolved_is_skipped(hostile, tmp_path, monkeypatch):
    mission = tmp_path / "m3"
    put(mission, "plan.md")
    (mission / "link.md").symlink_to("/proc/1/cwd/etc")
    resolve = os.path.realpath

    def denied(path, *args, **kwargs):
        if str(path).endswith("link.md"):
            raise PermissionError(13, "Permission denied", "/proc/1/cwd")
        return resolve(path, *args, **kwargs)

    monkeypatch.setattr(walk.os.path, "realpath", denied)
    scanned = hostile.ok("dossier", "scan", str(mission), "--feature", "m3", "--no-manifest")
    assert "link.md  (cannot resolve symbolic link: Permission denied)" in scanned.stdout


MANIFEST = """schema_version: 1
mission_type: software-dev
manifest_version: "1.0.0"
required_always:
  - {artifact_key: plan, artifact_class: workflow, path_pattern: plan.md}
"""
CATALOG = """version: 1
candidates:
  - code: PROC-CAND:dot:kg
    source: dot
    steps: [{code: DOT_KG_EXTRACT}]
"""


@pytest.mark.parametrize(
    ("command", "document"),
    [
        ("manifest", MANIFEST + "mission_type: hacked-type\n"),
        ("catalog", CATALOG.replace("    source:", "    code: PROC-CAND:dot:hijack\n    source:")),
        ("sinks", "sinks:\n  - {name: a, kind: null}\nsinks:\n  - {name: b, kind: null}\n"),
        ("sinks", "sinks:\n  - name: h\n    kind: webhook\n    secret_env: S\n    url: http://x/\n"
                  "    url: http://169.254.169.254/\n"),
    ],
)  # fmt: skip
def test_y1_a_key_given_twice_is_refused(hostile, tmp_path, mission, command, document):
    path = tmp_path / "dup.yaml"
    path.write_text(document)
    message = hostile.refused(*_reading(command, path, mission), exit_code=EXIT_REFUSED)
    assert "is given twice" in message


def _reading(command: str, path: Path, mission: Path) -> tuple[str, ...]:
    return {
        "manifest": ("dossier", "scan", str(mission), "--feature", "f", "--manifest", str(path)),
        "catalog": ("discovery", "score", "--catalog", str(path)),
        "sinks": ("relay", "import-sinks", str(path)),
    }[command]


DEEP = {
    "flow 1000": "[" * 1000 + "]" * 1000,
    "flow 10000": "[" * 10_000 + "]" * 10_000,
    "block 1000": "".join("  " * i + "a:\n" for i in range(1000)),
}


@pytest.mark.parametrize("command", ["manifest", "catalog", "sinks"])
@pytest.mark.parametrize("depth", DEEP)
def test_y2_deep_nesting_is_one_line(hostile, tmp_path, mission, command, depth):
    path = tmp_path / "deep.yaml"
    path.write_text(DEEP[depth])
    message = hostile.refused(*_reading(command, path, mission), exit_code=EXIT_REFUSED)
    assert "nested deeper than the limit of 32 levels" in message


LAUGHS = "a: &a [lol, lol, lol]\nb: &b [*a, *a, *a]\nc: &c [*b, *b, *b]\n"


@pytest.mark.parametrize("command", ["manifest", "catalog", "sinks"])
def test_y3_aliases_are_refused(hostile, tmp_path, mission, command):
    path = tmp_path / "laughs.yaml"
    path.write_text(LAUGHS)
    message = hostile.refused(*_reading(command, path, mission), exit_code=EXIT_REFUSED)
    assert "aliases (*name) are not accepted" in message


# A key given twice in a JSON object: the parser kept the last and dropped the other,
# so an event read differently here than in any reader taking the first.
JSON_TWICE = {
    "events ingest": (
        ("events", "ingest", "FILE"),
        '{"event_type": "plan.created", "timestamp": "2026-03-05T10:00:00Z", "plan_id": "p1", '
        '"plan_id": "p2"}',
    ),
    "workflow ingest": (
        ("workflow", "ingest", "FILE"),
        json.dumps(ol_event("START", run_id(), "etl", 0))[:-1] + ', "eventType": "COMPLETE"}',
    ),
    "events activation apply": (
        ("events", "activation", "apply", "FILE", "--approved-by", "al"),
        '{"a": {"b": 1, "b": 2}}',
    ),
    "events activation show": (("events", "activation", "show", "FILE"), '{"a": 1, "a": 2}'),
}


@pytest.mark.parametrize("command", JSON_TWICE)
def test_j1_a_json_key_given_twice_is_refused(hostile, tmp_path, command):
    args, document = JSON_TWICE[command]
    path = tmp_path / "twice.json"
    path.write_text(document + "\n")
    before = hostile.counts()
    outcome = hostile.run(*(str(path) if arg == "FILE" else arg for arg in args))
    # An ingest lists its bad line before the error.
    message = assert_refused(outcome, EXIT_REFUSED, listing="ingest" in command)
    assert "is given twice in one object" in message
    assert hostile.counts() == before


# JSON text may hold U+2028, U+2029 and U+0085 unescaped inside a string (Jackson, the
# OpenLineage Java client's writer, writes them so); str.splitlines() split lines there.
@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85"])
@pytest.mark.parametrize("command", ["events ingest", "workflow ingest"])
def test_j2_a_line_is_split_at_line_feeds_only(hostile, tmp_path, command, separator):
    if command == "events ingest":
        document = {
            "event_type": "plan.created",
            "timestamp": "2026-03-05T10:00:00Z",
            "plan_id": "p-sep",
            "details": {"note": f"one{separator}two"},
        }
    else:
        document = ol_event("START", run_id(), "etl", 0, sql=f"select 1{separator}from t")
    path = tmp_path / "events.jsonl"
    path.write_text("\n" + json.dumps(document, ensure_ascii=False) + "\r\n\n", encoding="utf-8")
    report = json.loads(hostile.ok(*command.split(), str(path), "--json").stdout)
    assert report["events"] == 1
    broken = tmp_path / "broken.jsonl"
    broken.write_text(path.read_text(encoding="utf-8") + "{oops\n", encoding="utf-8")
    outcome = hostile.run(*command.split(), str(broken))
    assert "line 4: not JSON" in assert_refused(outcome, EXIT_REFUSED, listing=True)


def test_j3_a_domain_event_line_is_held_to_its_limit_in_bytes(hostile, tmp_path):
    """The limit was counted in characters: a line of 4-byte characters took four times
    the 64 KiB."""
    document = {
        "event_type": "plan.created",
        "timestamp": "2026-03-05T10:00:00Z",
        "plan_id": "p-wide",
        "details": {"note": "\U0001f600" * (limits.MAX_JSON_LINE_BYTES // 4)},
    }
    path = tmp_path / "wide.jsonl"
    path.write_text(json.dumps(document, ensure_ascii=False) + "\n", encoding="utf-8")
    before = hostile.counts()
    outcome = hostile.run("events", "ingest", str(path))
    message = assert_refused(outcome, EXIT_REFUSED, listing=True)
    assert "line 1: longer than the limit of 65536 bytes a line" in message
    assert hostile.counts() == before
