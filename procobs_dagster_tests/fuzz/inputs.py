"""The files a fuzzed command may be handed: good ones of every kind procobs reads, and
every kind of file that is not what it should be."""

import json
import os
import uuid
from pathlib import Path

from procobs_dagster import limits
from procobs_dagster.discovery.catalog import sample_catalog_path
from procobs_dagster.dossier import manifest


class InputFiles:
    def __init__(self, root: Path):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.catalog = self._write("catalog.yaml", sample_catalog_path().read_text())
        self.manifest = self._write(
            "manifest.yaml",
            (Path(manifest.__file__).parent / "manifests" / manifest.DEFAULT_MANIFEST).read_text(),
        )
        self.sinks = self._write(
            "sinks.yaml", f"sinks:\n  - {{name: out, kind: file, path: {root / 'out.jsonl'}}}\n"
        )
        self.packet = self._write("packet.json", json.dumps(_packet()))
        self.domain_events = self._write("events.jsonl", _domain_events())
        self.mission = root / "mission"
        self.mission.mkdir(exist_ok=True)
        (self.mission / "spec.md").write_text("# spec\n")
        self.fifo = root / "fifo"
        if not self.fifo.exists():
            os.mkfifo(self.fifo)
        self.directory = root / "a-directory"
        self.directory.mkdir(exist_ok=True)
        self.missing = root / "missing.yaml"
        self.random = self._write_bytes("random.bin", bytes(range(256)) * 16)
        self.latin1 = self._write_bytes("latin1.yaml", b"caf\xe9: 1\n")
        self.empty = self._write("empty.yaml", "")
        self.huge = root / "huge.yaml"
        with self.huge.open("wb") as sparse:
            sparse.truncate(limits.MAX_INGEST_FILE_BYTES + 1)

    def _write(self, name: str, text: str) -> Path:
        path = self.root / name
        path.write_text(text)
        return path

    def _write_bytes(self, name: str, data: bytes) -> Path:
        path = self.root / name
        path.write_bytes(data)
        return path

    def readable(self) -> list[str]:
        """Files a command reads, good and bad alike."""
        good = [self.catalog, self.manifest, self.sinks, self.packet, self.domain_events]
        bad = [self.fifo, "/dev/zero", self.directory, self.missing, self.random, self.latin1]
        return [str(p) for p in (*good, *bad, self.empty, self.huge, self.mission)]

    def writable(self) -> list[str]:
        """Places a command may be asked to write to."""
        return [
            str(self.root / "new.json"),
            str(self.root / "new.sqlite"),
            str(self.root / "no-folder" / "x.json"),
            str(self.catalog),  # exists: needs --yes, which the fuzzer never gives
            str(self.fifo),
            "/dev/null",
            "/dev/full",
            str(self.directory),
        ]


def _packet() -> dict:
    return {
        "format": "procobs.activation-packet/1",
        "packet_id": str(uuid.uuid4()),
        "staged_at": "2026-03-01T12:00:00Z",
        "emit_enabled": True,
        "changes": [
            {
                "event_type": "process.run.failed",
                "family": "process",
                "stream": "process",
                "lane": "immediate",
                "severity": "error",
                "current_active": False,
                "proposed_active": True,
            }
        ],
    }


def _domain_events() -> str:
    lines = [
        {"event_type": "plan.created", "timestamp": "2026-03-05T10:00:00Z", "plan_id": "p1"},
        {
            "event_type": "tool.invoked",
            "timestamp": "2026-03-05T10:00:01Z",
            "plan_id": "p1",
            "details": {"tool_name": "pytest", "invocation_id": "c1"},
        },
    ]
    return "".join(json.dumps(line) + "\n" for line in lines)
