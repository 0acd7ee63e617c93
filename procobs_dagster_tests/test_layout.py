"""Dependencies run one way, in the order docs/development.md states.

The order is read from the page's fenced block of levels joined by "←"; every import of
every module of the package (at any depth, lazy ones included) is checked against it.
"""

import ast
import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import procobs_dagster

PACKAGE = Path(procobs_dagster.__file__).parent
ROOT = PACKAGE.parent
DEVELOPMENT_PAGE = ROOT / "docs" / "development.md"
# The name the page gives the top-level modules (and the package's own __init__).
BASE = "base"
# The first package of the Dagster translation: everything left of it is domain code.
DAGSTER_SIDE = "defs"


@dataclasses.dataclass(frozen=True)
class Order:
    rank: dict[str, int]  # unit -> position, left to right
    peers: frozenset[str]  # units listed in braces, which must not import each other

    def unit_of(self, module: str) -> str:
        """The package (or top-level module) a ``procobs_dagster.…`` module is part of."""
        parts = module.split(".")
        return parts[1] if len(parts) > 1 else BASE

    def unit_imported(self, target: str) -> str:
        """The unit an imported name is part of; a name of the package itself (such as
        ``__version__``) is base."""
        unit = self.unit_of(target)
        return unit if unit in self.rank else BASE


def parse_order(text: str) -> Order:
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", text, flags=re.M | re.S)
    ordered = [b for b in blocks if "←" in b]
    if len(ordered) != 1:
        raise AssertionError(f"expected one fenced block with the order, found {len(ordered)}")
    rank, peers = {}, set()
    for position, level in enumerate(ordered[0].split("←")):
        level = " ".join(level.split())
        braced = re.fullmatch(r"\{(.*)\}", level)
        named = re.fullmatch(r"([\w.]+)(?: \((.*)\))?", level)
        if braced:
            names = [n.strip() for n in braced.group(1).split(",")]
            peers.update(names)
        elif named:
            names = [named.group(1)]
            names += [n.strip() for n in (named.group(2) or "").split(",") if n.strip()]
        else:
            raise AssertionError(f"cannot read the level {level!r}")
        for name in names:
            if name in rank:
                raise AssertionError(f"{name} is listed twice")
            rank[name] = position
    return Order(rank, frozenset(peers))


@dataclasses.dataclass(frozen=True)
class Import:
    module: str  # the importing module, dotted
    target: str  # what it imports, dotted
    line: int


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, root: Path = ROOT) -> Iterator[Import]:
    module = _module_name(path, root)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            yield Import(module, base, node.lineno)
            # ``from procobs_dagster import ledger`` imports the package ledger.
            for alias in node.names:
                yield Import(module, f"{base}.{alias.name}", node.lineno)


def violations(order: Order, modules: dict[Path, list[Import]], root: Path = ROOT) -> list[str]:
    problems = []
    for path, found in modules.items():
        where = path.relative_to(root)
        unit = order.unit_of(_module_name(path, root))
        if unit not in order.rank:
            problems.append(f"{where}: package {unit!r} is not in the dependency order")
            continue
        for imp in found:
            if imp.target.split(".")[0] == "dagster" and order.rank[unit] < order.rank.get(
                DAGSTER_SIDE, 0
            ):
                problems.append(f"{where}:{imp.line}: domain package {unit} imports dagster")
            if not imp.target.startswith("procobs_dagster.") or imp.target.count(".") < 1:
                continue
            target = order.unit_imported(imp.target)
            if target == unit:
                continue
            if order.rank[target] > order.rank[unit]:
                problems.append(
                    f"{where}:{imp.line}: {unit} imports {target}, which is to its right"
                )
            elif order.rank[target] == order.rank[unit] and unit in order.peers:
                problems.append(f"{where}:{imp.line}: {unit} imports its peer {target}")
    return sorted(set(problems))


def _package_modules() -> dict[Path, list[Import]]:
    return {path: list(imports_of(path)) for path in sorted(PACKAGE.rglob("*.py"))}


@pytest.fixture(scope="module")
def order() -> Order:
    return parse_order(DEVELOPMENT_PAGE.read_text())


def test_every_package_imports_only_to_its_left(order):
    assert violations(order, _package_modules()) == []


def test_every_package_and_top_level_module_has_a_place_in_the_order(order):
    units = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    units |= {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    assert sorted(units - set(order.rank)) == []


def test_the_order_reads_as_the_page_states_it(order):
    assert order.rank[BASE] == order.rank["errors"] == 0
    assert order.rank["store"] < order.rank["events"] < order.rank["ledger"]
    assert order.rank["delivery"] == order.rank["maintenance"] < order.rank["sources"]
    assert order.rank["defs"] == order.rank["definitions"] < order.rank["cli"]
    assert {"delivery", "dossier", "discovery", "maintenance"} == order.peers


def _check(order: Order, root: Path, where: str, source: str) -> list[str]:
    """The violations of one module written for the purpose in a copy of the layout."""
    path = root / "procobs_dagster" / where
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source)
    return violations(order, {path: list(imports_of(path, root))}, root)


@pytest.mark.parametrize(
    ("where", "source", "problem"),
    [
        ("events/x.py", "from procobs_dagster.ledger import runs\n", "to its right"),
        ("events/x.py", "def f():\n    from procobs_dagster import ledger\n", "to its right"),
        ("store/x.py", "from ..events import outbox\n", "to its right"),
        ("delivery/x.py", "import procobs_dagster.dossier.scan\n", "its peer"),
        ("ledger/x.py", "import dagster as dg\n", "imports dagster"),
        ("sources/x.py", "from dagster import asset\n", "imports dagster"),
        ("newpackage/x.py", "import os\n", "not in the dependency order"),
    ],
)
def test_a_wrong_import_is_caught(order, tmp_path, where, source, problem):
    (found,) = _check(order, tmp_path, where, source)
    assert problem in found


@pytest.mark.parametrize(
    ("where", "source"),
    [
        ("ledger/x.py", "from procobs_dagster.events import outbox\n"),
        ("ledger/x.py", "from procobs_dagster import ids, store\n"),
        ("clock.py", "from procobs_dagster.errors import InvalidInput\n"),
        ("cli/x.py", "from procobs_dagster.defs import resources\nimport dagster\n"),
        ("defs/x.py", "import dagster as dg\nfrom procobs_dagster import definitions\n"),
        ("maintenance/x.py", "from . import _sweep\nfrom procobs_dagster import __version__\n"),
    ],
)
def test_a_right_import_passes(order, tmp_path, where, source):
    assert _check(order, tmp_path, where, source) == []


# Dagster's underscore modules and names are its internals, changed without notice between
# releases: the package, its tests and its benchmarks use only what Dagster exports (see
# docs/development.md, Tests). None is unavoidable today.
PUBLIC_DAGSTER_ONLY = (PACKAGE, ROOT / "procobs_dagster_tests", ROOT / "bench")


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


# A dotted path in a string: what mock.patch, monkeypatch.setattr and importlib reach
# Dagster's internals by, with no import statement to see.
_PRIVATE_DAGSTER_PATH = re.compile(r"dagster(?:_\w+)?(?:\.\w+)*\._(?!_)\w*(?:\.\w+)*")


def private_dagster_uses(path: Path, root: Path = ROOT) -> Iterator[str]:
    """``where:line: name`` for each import of a private Dagster module or name (once per
    statement), each private attribute read off ``dagster`` or ``dg`` (``dg._core``), and
    each string naming a private Dagster path (``mock.patch("dagster._core.x")``)."""
    where = path.relative_to(root)
    lines = set()
    for imp in imports_of(path, root):
        top, *rest = imp.target.split(".")
        dagster = top == "dagster" or top.startswith("dagster_")
        if dagster and any(map(_is_private, rest)) and imp.line not in lines:
            lines.add(imp.line)
            yield f"{where}:{imp.line}: {imp.target}"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in ("dagster", "dg")
            and _is_private(node.attr)
        ):
            yield f"{where}:{node.lineno}: {node.value.id}.{node.attr}"
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and _PRIVATE_DAGSTER_PATH.fullmatch(node.value)
        ):
            yield f"{where}:{node.lineno}: {node.value[:60]}"


def test_only_public_dagster_is_used():
    found = [
        use
        for folder in PUBLIC_DAGSTER_ONLY
        for path in sorted(folder.rglob("*.py"))
        if path != Path(__file__)  # names private paths to test the check
        for use in private_dagster_uses(path)
    ]
    assert found == []


@pytest.mark.parametrize(
    ("source", "found"),
    [
        (
            "from dagster._core.instance.ref import InstanceRef\n",
            "bench/x.py:1: dagster._core.instance.ref",
        ),
        ("import os\nfrom dagster import asset, _check\n", "bench/x.py:2: dagster._check"),
        ("def f():\n    import dagster._utils\n", "bench/x.py:2: dagster._utils"),
        ("import dagster_postgres._x\n", "bench/x.py:1: dagster_postgres._x"),
        ("import dagster as dg\n\nx = dg._core\n", "bench/x.py:3: dg._core"),
        (
            'from unittest import mock\n\nmock.patch("dagster._core.instance.X")\n',
            "bench/x.py:3: dagster._core.instance.X",
        ),
        (
            'import importlib\n\nimportlib.import_module("dagster_postgres.utils._x")\n',
            "bench/x.py:3: dagster_postgres.utils._x",
        ),
    ],
)
def test_a_private_dagster_use_is_caught(tmp_path, source, found):
    path = tmp_path / "bench" / "x.py"
    path.parent.mkdir()
    path.write_text(source)
    assert list(private_dagster_uses(path, tmp_path)) == [found]


def test_public_dagster_passes(tmp_path):
    path = tmp_path / "x.py"
    path.write_text(
        "import dagster as dg\nfrom dagster import __version__, asset\ndg.asset\n"
        'x = "dagster.__version__", "dagster_webserver", "dagster._core is private"\n'
    )
    assert list(private_dagster_uses(path, tmp_path)) == []
