"""Reading users' files safely (procobs_dagster.input_files)."""

import os
import socket

import pytest
import yaml

from procobs_dagster import input_files
from procobs_dagster.errors import InvalidInput


@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return path


def test_a_regular_utf8_file_is_read(tmp_path):
    path = tmp_path / "a.yaml"
    path.write_text("a: café\n", encoding="utf-8")
    assert input_files.read_text_file(path, "catalog") == "a: café\n"


def test_a_fifo_is_refused_without_waiting_for_a_writer(fifo, tmp_path):
    with pytest.raises(InvalidInput, match=r"^manifest .*fifo is a FIFO, not a regular file$"):
        input_files.read_text_file(fifo, "manifest")
    link = tmp_path / "link.yaml"
    link.symlink_to(fifo)
    with pytest.raises(InvalidInput, match="is a FIFO"):
        input_files.read_text_file(link, "manifest")


@pytest.mark.parametrize(
    ("path", "kind"), [("/dev/zero", "a character device"), ("/", "a directory")]
)
def test_devices_and_directories_are_refused(path, kind):
    with pytest.raises(InvalidInput, match=f"is {kind}, not a regular file"):
        input_files.read_text_file(path, "sinks file")


def test_a_socket_is_refused(tmp_path):
    path = tmp_path / "s"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        with pytest.raises(InvalidInput, match="is a socket"):
            input_files.read_text_file(path, "catalog")


def test_size_is_capped(tmp_path):
    path = tmp_path / "big"
    path.write_bytes(b"#" * 101)
    assert input_files.read_text_file(path, "catalog", max_bytes=101)
    with pytest.raises(InvalidInput, match="larger than the limit of 100 bytes"):
        input_files.read_text_file(path, "catalog", max_bytes=100)


def test_non_utf8_is_refused_naming_the_offset(tmp_path):
    path = tmp_path / "latin1"
    path.write_bytes(b"caf\xe9: 1\n")
    with pytest.raises(InvalidInput, match=r"is not UTF-8 text \(byte 0xe9 at offset 3\)$"):
        input_files.read_text_file(path, "catalog")


def test_missing_files_and_nul_in_paths_are_one_line(tmp_path):
    with pytest.raises(InvalidInput, match=r"cannot read catalog .*: No such file or directory"):
        input_files.read_text_file(tmp_path / "missing", "catalog")
    with pytest.raises(InvalidInput, match="contains a NUL character"):
        input_files.read_text_file(f"{tmp_path}/a\0b", "catalog")


@pytest.fixture(params=input_files.YAML_LOADERS, ids=lambda loader: loader.__name__)
def yaml_loader(request, monkeypatch):
    """Each loader parse_yaml may use: libyaml's, and the pure-Python fallback."""
    monkeypatch.setattr(input_files, "YAML_LOADER", request.param)
    return request.param


def test_libyaml_is_used_where_pyyaml_has_it():
    expected = "_LibyamlLoader" if yaml.__with_libyaml__ else "_PureLoader"
    assert input_files.YAML_LOADER.__name__ == expected
    assert input_files.YAML_LOADERS[-1].__name__ == "_PureLoader"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("mission_type: a\nmission_type: b\n", "the key 'mission_type' is given twice"),
        ("sinks: []\nsinks: []\n", "the key 'sinks' is given twice"),
        ("a: {b: 1, b: 2}\n", "the key 'b' is given twice"),
        ("a: &x [1]\nb: *x\n", "aliases (*name) are not accepted"),
        ("a: &x [*x]\n", "aliases (*name) are not accepted"),
        ("[" * 1000 + "]" * 1000, "nested deeper than the limit of 32 levels"),
        ("[" * 1_000_000, "nested deeper than the limit of 32 levels"),
        ("".join("  " * i + "a:\n" for i in range(1000)), "nested deeper than the limit"),
        ("a: !!python/object:os.system x\n", "could not determine a constructor"),
        ("a: " + "9" * 5000 + "\n", "a value cannot be read"),
    ],
)
def test_yaml_refusals(yaml_loader, text, problem):
    with pytest.raises(InvalidInput) as refused:
        input_files.parse_yaml(text, "sinks x.yaml")
    message = str(refused.value)
    assert message.startswith("sinks x.yaml: ") and problem in message
    assert "\n" not in message


def test_yaml_exponents_are_numbers_as_in_yaml_1_2(yaml_loader):
    """YAML 1.1 reads 1e3 as text, which a strict model refuses as no number."""
    document = input_files.parse_yaml(
        "a: [1e3, 1.5e3, -2E-2, .5e1, 1.0e+3, 10, 1.5, '1e3', 1e, v1e3, 1.2.3]", "x"
    )
    assert document == {"a": [1e3, 1.5e3, -0.02, 5.0, 1e3, 10, 1.5, "1e3", "1e", "v1e3", "1.2.3"]}
    assert [type(v) for v in document["a"][:5]] == [float] * 5


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "a: 1\nb:\n  c: 2\n  c: 3\n",
            "not valid YAML at line 4, column 3: the key 'c' is given twice",
        ),
        (
            "a: &x 1\nb: *x\n",
            "not valid YAML at line 2, column 4: aliases (*name) are not accepted",
        ),
        (
            "[" * 33 + "]" * 33,
            "not valid YAML at line 1, column 33: nested deeper than the limit of 32 levels",
        ),
    ],
)
def test_every_loader_refuses_a_bound_in_the_same_words(yaml_loader, text, message):
    with pytest.raises(InvalidInput) as refused:
        input_files.parse_yaml(text, "x")
    assert str(refused.value) == f"x: {message}"


def test_yaml_within_bounds_is_read(yaml_loader):
    nested = "[" * 32 + "]" * 32
    assert input_files.parse_yaml(nested, "x") is not None
    assert input_files.parse_yaml("a: {b: 1}\nc: [1, 2]\n", "x") == {"a": {"b": 1}, "c": [1, 2]}
    # An anchor nothing refers to is no alias.
    assert input_files.parse_yaml("a: &x [1]\n", "x") == {"a": [1]}
    document = "t: 2026-01-15T09:30:00Z\nn: ~\nf: 1.5\nb: yes\ns: 'x'\n"
    assert input_files.parse_yaml(document, "x") == yaml.safe_load(document)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"a": NaN}', "NaN is not a JSON number"),
        ('{"a": -Infinity}', "-Infinity is not a JSON number"),
        ('{"a": 1e400}', "too large for a float"),
        ('{"a": ' + "9" * 5000 + "}", "outside the 64-bit range"),
        ('{"a": 9223372036854775808}', "outside the 64-bit range"),
        ("[" * 100_000 + "]" * 100_000, "nested deeper than the limit of 32 levels"),
        ("[" * 40 + "]" * 40, "nested deeper than the limit of 32 levels"),
        ('{"a": ', "not JSON: Expecting value"),
        ('{"a": 1, "a": 2}', "the key 'a' is given twice"),
        ('[{"x": {"b": 1, "c": 2, "b": 3}}]', "the key 'b' is given twice"),
    ],
)
def test_json_refusals(text, problem):
    with pytest.raises(InvalidInput, match=problem.replace("(", r"\(")):
        input_files.parse_json(text, "line 1")


def test_json_within_bounds_is_read():
    assert input_files.parse_json('{"a": [1, -9223372036854775807, 1.5]}', "x") == {
        "a": [1, -9223372036854775807, 1.5]
    }
