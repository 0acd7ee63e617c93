"""A small knowledge-graph family used by the demo: extract triples, then validate them.

Sentences of the form ``Subject verb Object.`` become (subject, verb, object) triples;
the validator accepts a triple when both ends are capitalised entities and the verb is
known. Real work on bundled files, so the ledger records real evidence (rows, hashes).
"""

import re
from importlib import resources
from pathlib import Path

SENTENCE = re.compile(r"^\s*([A-Z]\w*)\s+([a-z]+)\s+([A-Z]\w*)\.\s*$")
KNOWN_VERBS = {"reads", "produces", "checks", "defines", "starts", "holds", "records", "observes"}


def sample_folder() -> Path:
    return Path(str(resources.files("procobs_dagster.demo") / "sample_data" / "kg"))


def extract(folder: Path) -> list[tuple[str, str, str]]:
    triples = []
    for path in sorted(folder.glob("*.txt")):
        for line in path.read_text().splitlines():
            match = SENTENCE.match(line)
            if match:
                triples.append(match.groups())
    return triples


def validate(triples: list[tuple[str, str, str]]) -> dict:
    rejected = [t for t in triples if t[1] not in KNOWN_VERBS]
    entities = sorted({t[0] for t in triples} | {t[2] for t in triples})
    return {
        "accepted": len(triples) - len(rejected),
        "rejected": len(rejected),
        "entities": entities,
    }
