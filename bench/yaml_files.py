"""YAML files as procobs reads them: a catalog of MAX_CONFIG_FILE_BYTES (1 MiB, some 4,400
candidates in block style) parsed by ``input_files.parse_yaml`` — libyaml's parser under
the bounded composer and constructor — vs ``yaml.load(text, Loader=yaml.CSafeLoader)``,
which enforces no bound; then the pure-Python fallback against PyYAML's own
``SafeLoader``, for the record. Best of R rounds each, alternating. No database.
"""

import time

import yaml
from _common import parser, report

from procobs_dagster import input_files
from procobs_dagster.limits import MAX_CONFIG_FILE_BYTES

GOAL = 2.0  # the bounded loader's time, in multiples of CSafeLoader's: its composer is Python


def catalog_text(max_bytes: int = MAX_CONFIG_FILE_BYTES) -> str:
    """A valid catalog as close to ``max_bytes`` as whole candidates make it."""
    parts, size, i = ["version: 1\ncandidates:\n"], 0, 0
    while True:
        candidate = (
            f"  - code: PROC-CAND:dot:candidate-{i}\n"
            "    source: dot\n"
            f"    title: Candidate number {i}\n"
            f"    steps:\n"
            f"      - {{code: DOT_{i}_EXTRACT, role: producer}}\n"
            f"      - {{code: DOT_{i}_VALIDATE, role: verifier}}\n"
            "    last_executed: 2026-01-15T09:30:00Z\n"
        )
        size += len(candidate)
        if size + len(parts[0]) > max_bytes:
            return "".join(parts)
        parts.append(candidate)
        i += 1


def best_of(rounds: int, paths: dict) -> dict[str, float]:
    best = dict.fromkeys(paths, float("inf"))
    for _ in range(rounds):
        for name, path in paths.items():
            start = time.perf_counter()
            path()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def main() -> None:
    cli = parser(__doc__.splitlines()[0])
    cli.add_argument("--rounds", type=int, default=3)
    args = cli.parse_args()
    text = catalog_text()
    candidates = text.count("  - code:")
    assert input_files.parse_yaml(text, "bench") == yaml.load(text, Loader=yaml.CSafeLoader)
    lines = []
    if yaml.__with_libyaml__:
        loader = input_files.YAML_LOADER
        fast = best_of(
            args.rounds,
            {
                "raw": lambda: yaml.load(text, Loader=yaml.CSafeLoader),
                "bounded": lambda: yaml.load(text, Loader=loader),
            },
        )
        ratio = fast["bounded"] / fast["raw"]
        lines += [
            ("CSafeLoader (raw)", f"{fast['raw']:8.2f} s"),
            (f"parse_yaml ({loader.__name__})", f"{fast['bounded']:8.2f} s"),
            (
                "parse_yaml / raw",
                f"{ratio:8.2f} x  (goal <= {GOAL:.2f}: {'met' if ratio <= GOAL else 'NOT met'})",
            ),
        ]
    else:
        lines.append(("libyaml", "not in this PyYAML: parse_yaml uses the fallback"))
    pure = input_files.YAML_LOADERS[-1]
    slow = best_of(
        args.rounds,
        {
            "raw": lambda: yaml.load(text, Loader=yaml.SafeLoader),
            "bounded": lambda: yaml.load(text, Loader=pure),
        },
    )
    lines += [
        ("SafeLoader (raw, pure Python)", f"{slow['raw']:8.2f} s"),
        (f"fallback ({pure.__name__})", f"{slow['bounded']:8.2f} s"),
        ("fallback / SafeLoader", f"{slow['bounded'] / slow['raw']:8.2f} x"),
    ]
    if yaml.__with_libyaml__:
        lines.append(("fallback / parse_yaml", f"{slow['bounded'] / fast['bounded']:8.2f} x"))
    report(f"YAML: a catalog of {len(text)} bytes, {candidates} candidates", lines)


if __name__ == "__main__":
    main()
