import re

import pytest
import yaml

from procobs_dagster import dossier
from procobs_dagster.dossier.manifest import ScanPlan, glob_to_regex
from procobs_dagster_tests.hostile import deadline

VALID = {
    "schema_version": 1,
    "mission_type": "software-dev",
    "manifest_version": "2.0.0",
    "required_always": [
        {
            "artifact_key": "spec",
            "artifact_class": "input",
            "path_pattern": "spec.md",
            "blocking": True,
        }
    ],
    "required_by_step": {
        "plan": [{"artifact_key": "plan", "artifact_class": "workflow", "path_pattern": "plan.md"}],
        "tasks": [
            {"artifact_key": "wps", "artifact_class": "workflow", "path_pattern": "tasks/WP*.md"}
        ],
    },
    "optional_always": [
        {"artifact_key": "notes", "artifact_class": "evidence", "path_pattern": "notes/**"}
    ],
}


def write_manifest(tmp_path, document) -> str:
    path = tmp_path / "manifest.yaml"
    path.write_text(document if isinstance(document, str) else yaml.safe_dump(document))
    return str(path)


def mutated(path: tuple, value) -> dict:
    document = yaml.safe_load(yaml.safe_dump(VALID))
    target = document
    for part in path[:-1]:
        target = target[part]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return document


def test_a_valid_manifest_loads(tmp_path):
    manifest = dossier.load_manifest(write_manifest(tmp_path, VALID))
    assert manifest.mission_type == "software-dev" and manifest.steps == ("plan", "tasks")
    assert [e.artifact_key for e in manifest.required_always] == ["spec"]


def test_the_shipped_default_manifest_is_valid():
    manifest = dossier.default_manifest()
    assert manifest.mission_type == "software-dev"
    assert manifest.steps == ("specify", "plan", "tasks", "implement", "review")


@pytest.mark.parametrize(
    ("path", "value", "names"),
    [
        (("required_always", 0, "artifact_class"), "binary", "required_always[0].artifact_class"),
        (("required_always", 0, "path_pattern"), KeyError, "required_always[0].path_pattern"),
        (("required_by_step", "plan", 0, "blocking"), "yes", "required_by_step.plan[0].blocking"),
        (("optional_always", 0, "colour"), "red", "optional_always[0].colour"),
        (("manifest_version",), 1.0, "manifest_version"),
        (("schema_version",), 2, "schema_version"),
        (("mission_type",), "Software Dev", "mission_type"),
        (("required_always", 0, "path_pattern"), "../spec.md", "required_always[0].path_pattern"),
        (("required_always", 0, "path_pattern"), "/etc/spec.md", "required_always[0].path_pattern"),
        (("required_always", 0, "path_pattern"), ".git/spec.md", "required_always[0].path_pattern"),
        (("required_always", 0, "path_pattern"), "a**/b", "required_always[0].path_pattern"),
        # A class re cannot compile was an internal error (exit 4); `--` is ambiguous.
        (("required_always", 0, "path_pattern"), "[z-a].md", "required_always[0].path_pattern"),
        (("required_always", 0, "path_pattern"), "[a--b].md", "required_always[0].path_pattern"),
        (("optional_always", 0, "blocking"), True, "optional_always[0].blocking"),
        (
            ("optional_always", 0, "artifact_key"),
            "plan",
            "optional_always[0].artifact_key: duplicate artifact_key 'plan'",
        ),
    ],
)
def test_an_invalid_manifest_is_one_line_naming_file_and_field(tmp_path, path, value, names):
    source = write_manifest(tmp_path, mutated(path, value))
    with pytest.raises(dossier.InvalidManifest) as caught:
        dossier.load_manifest(source)
    message = str(caught.value)
    assert message.startswith(f"manifest {source}: {names}")
    assert "\n" not in message


def test_a_key_yaml_reads_as_a_number_is_refused_saying_so(tmp_path):
    text = yaml.safe_dump(mutated(("optional_always", 0, "artifact_key"), "KEY"))
    source = write_manifest(tmp_path, text.replace("KEY", "1e3"))
    with pytest.raises(dossier.InvalidManifest) as caught:
        dossier.load_manifest(source)
    assert str(caught.value) == (
        f"manifest {source}: optional_always[0].artifact_key: Input should be a valid string"
        " (YAML read it as the float 1000.0: quote it to keep it text)"
    )


def test_yaml_syntax_errors_name_the_line(tmp_path):
    source = write_manifest(tmp_path, "schema_version: 1\nmission_type: [unclosed\n")
    with pytest.raises(dossier.InvalidManifest, match=r"not valid YAML at line \d+, column \d+"):
        dossier.load_manifest(source)


def test_a_missing_manifest_file_is_named(tmp_path):
    with pytest.raises(
        dossier.InvalidManifest, match=r"cannot read manifest .*nope\.yaml: No such file"
    ):
        dossier.load_manifest(tmp_path / "nope.yaml")


def test_a_step_makes_its_entries_and_earlier_steps_required():
    manifest = dossier.default_manifest()
    required = {r.entry.artifact_key for r in manifest.roles("plan") if r.required}
    assert required == {"spec", "meta", "requirements_checklist", "plan", "research"}
    assert {r.entry.artifact_key for r in manifest.roles(None) if r.required} == {"spec", "meta"}
    # Blocking counts only where the entry is required.
    assert not any(r.blocking for r in manifest.roles("plan") if r.entry.artifact_key == "tasks")


def test_an_unknown_step_is_refused_with_the_known_ones():
    with pytest.raises(dossier.UnknownStep, match=r"unknown step 'deploy'.*specify, plan, tasks"):
        ScanPlan(dossier.default_manifest(), "deploy")


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("spec.md", "spec.md", True),
        ("spec.md", "docs/spec.md", False),
        ("tasks/WP*.md", "tasks/WP01-setup.md", True),
        ("tasks/WP*.md", "tasks/sub/WP01.md", False),
        ("contracts/**", "contracts/a/b/api.yaml", True),
        ("contracts/**", "contracts", False),
        ("**/README.md", "README.md", True),
        ("**/README.md", "a/b/README.md", True),
        ("docs/**/*.md", "docs/x.md", True),
        ("docs/**/*.md", "docs/a/b/x.md", True),
        ("WP0?.md", "WP01.md", True),
        ("WP0?.md", "WP0/.md", False),
        ("[!a]*.md", "b.md", True),
        ("[!a]*.md", "a.md", False),
        ("data+model(1).md", "data+model(1).md", True),
        ("[[]x.md", "[x.md", True),
        ("[a&&b]", "&", True),
        ("*a*a*b", "xaayab", True),
        ("*a*a*b", "aaba", False),
        ("**/**/x", "x", True),
        ("a/**/**", "a/b/c", True),
        ("a/**/**", "a", False),
        ("**/b/**/c", "a/b/b/c", True),
        ("**/b/**/c", "a/b/c/d", False),
    ],
)
def test_glob_semantics(pattern, path, matches):
    assert bool(re.fullmatch(glob_to_regex(pattern), path)) is matches


@pytest.mark.parametrize(
    ("pattern", "path"),
    [
        ("*a*a*a*a*a*a*a*a*a*a*a*a*ab.md", "a" * 200 + ".md"),
        ("/".join(["**"] * 150) + "/x", "/".join(["a"] * 25) + "/y"),
        ("**/" + "a*/**/" * 60 + "b", "/".join(["a"] * 100)),
    ],
)
def test_a_glob_that_does_not_match_says_so_without_trying_every_split(pattern, path):
    # These took the regex engine exponential time: a scan hung on a 600-character pattern.
    with deadline(10):
        assert re.fullmatch(glob_to_regex(pattern), path) is None


def test_a_file_belongs_to_the_first_entry_that_matches_in_manifest_order():
    plan = ScanPlan(dossier.default_manifest(), "review")
    # checklists/requirements.md matches both requirements_checklist (step specify) and
    # the optional catch-all checklists/*.md: the earlier entry wins.
    assert plan.role_of("checklists/requirements.md").entry.artifact_key == "requirements_checklist"
    assert plan.role_of("checklists/security.md").entry.artifact_key == "checklists"
    assert plan.role_of("src/main.py") is None
