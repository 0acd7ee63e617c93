"""A small knowledge-graph family used by the demo: extract triples, then validate them;
export them, then check the export.

Sentences of the form ``Subject verb Object.`` become (subject, verb, object) triples;
the validator accepts a triple when both ends are capitalised entities and the verb is
known. Real work on bundled files, so the ledger records real evidence (rows, hashes).
"""

import hashlib
import json
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


def export(folder: Path, out: Path) -> dict:
    """Write the extracted triples as JSON lines to ``out``; report their count and hash."""
    triples = extract(folder)
    text = "".join(json.dumps(list(t)) + "\n" for t in triples)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return {"triples": len(triples), "sha256": hashlib.sha256(text.encode()).hexdigest()}


def checksum(out: Path, expected_sha256: str) -> dict:
    """Read the export back and check it is what was written."""
    actual = hashlib.sha256(out.read_bytes()).hexdigest()
    if actual != expected_sha256:
        raise ValueError(f"{out}: sha256 {actual} differs from the export's {expected_sha256}")
    return {"sha256": actual}
