"""The process-candidate catalog: what each candidate process is expected to look like.

A catalog is a YAML file::

    version: 1
    candidates:
      - code: PROC-CAND:dot:kg          # PROC-CAND:<source>:<name>
        source: dot                     # dot | job | workflow
        title: Knowledge graph
        covers: [DOT_KG_EXTRACT, DOT_KG_VALIDATE]   # optional, defaults to the step codes
        steps:                          # the expected order of component executions
          - {code: DOT_KG_EXTRACT, role: producer}
          - {code: DOT_KG_VALIDATE, role: verifier}
        last_executed: 2026-01-15T09:30:00Z         # optional platform backfill, never evidence

``covers`` names what belongs to the candidate: for a ``dot`` or ``job`` candidate the DOT
codes or job kinds (by default its step codes; for a job-backed candidate it selects the
``job_queue`` rows, by ``job_kind``, that are its runtime evidence); for a ``workflow``
candidate the workflow-engine jobs, written ``<namespace>/<name>``, whose runs are its runs
(by default the job its code names, ``PROC-CAND:workflow:<namespace>/<name>``) — its steps
are then the names of the jobs its runs' steps ran. Declaring a candidate proves nothing:
only runs do.
"""

import collections
import dataclasses
import re
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from procobs_dagster import limits
from procobs_dagster.environment import setting
from procobs_dagster.errors import InvalidInput, first_problem
from procobs_dagster.input_files import describe, read_yaml_file, yaml_scalar_hint
from procobs_dagster.limits import Identifier, ListAsTuple, Text, Timestamp
from procobs_dagster.store.vocabulary import CANDIDATE_SOURCES, COMPONENT_ROLES

CATALOG_ENV = "PROCOBS_CATALOG"
CANDIDATE_CODE = re.compile(
    r"^PROC-CAND:(?P<source>[a-z]+):(?P<name>[A-Za-z0-9][A-Za-z0-9_.:/-]*)$"
)
WORKFLOW = "workflow"
ACTIVITY_CODE = r"^\S(.*\S)?$"  # no surrounding whitespace, never empty

Source = Literal[CANDIDATE_SOURCES]  # type: ignore[valid-type]
Role = Literal[COMPONENT_ROLES]  # type: ignore[valid-type]
ActivityCode = Annotated[Identifier, Field(pattern=ACTIVITY_CODE)]


def _invalid(message: str) -> PydanticCustomError:
    """A validation error whose message reads as written (no "Value error," prefix)."""
    return PydanticCustomError("catalog", message)


def _repeated(values) -> list[str]:
    """The values given more than once, sorted. Counted in one pass: a 1 MiB catalog holds
    tens of thousands of codes, and list.count for each took minutes."""
    return sorted(value for value, n in collections.Counter(values).items() if n > 1)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Step(_Strict):
    """One expected component execution: its DOT code / job kind / step ref, and role."""

    code: ActivityCode
    role: Role | None = None


class CandidateSpec(_Strict):
    code: Identifier
    source: Source
    title: Text | None = None
    steps: Annotated[tuple[Step, ...], ListAsTuple, Field(min_length=1)]
    covers: Annotated[tuple[ActivityCode, ...], ListAsTuple] = ()
    # YAML gives a datetime, JSON a string: both are accepted, a naive time is not (nor
    # one outside the supported range).
    last_executed: Annotated[Timestamp | None, Field(strict=False)] = None

    @model_validator(mode="after")
    def _consistent(self) -> "CandidateSpec":
        match = CANDIDATE_CODE.match(self.code)
        if not match:
            raise _invalid(
                f"code {limits.shown(self.code)} is not of the form PROC-CAND:<source>:<name>"
            )
        if match["source"] != self.source:
            raise _invalid(
                f"code {limits.shown(self.code)} says {match['source']!r} but source is "
                f"{self.source!r}"
            )
        codes = [step.code for step in self.steps]
        repeated = _repeated(codes)
        if repeated:
            raise _invalid(f"step codes must be distinct, repeated: {', '.join(repeated)}")
        if len(set(self.covers)) != len(self.covers):
            raise _invalid("covers lists a code twice")
        if self.source == WORKFLOW:
            not_jobs = [c for c in self.covers if "/" not in c]
            if not_jobs:
                raise _invalid(
                    "a workflow candidate covers workflow jobs written <namespace>/<name>, "
                    f"not {', '.join(not_jobs)}"
                )
            return self
        covered = set(self.covers)
        uncovered = [c for c in codes if covered and c not in covered]
        if uncovered:
            raise _invalid(f"steps not listed in covers: {', '.join(uncovered)}")
        return self

    @property
    def step_codes(self) -> tuple[str, ...]:
        return tuple(step.code for step in self.steps)

    @property
    def covered_codes(self) -> tuple[str, ...]:
        """``covers`` as declared, else the step codes (a workflow candidate: the job its
        code names, if it names one)."""
        if self.covers:
            return self.covers
        if self.source == WORKFLOW:
            name = CANDIDATE_CODE.match(self.code)["name"]
            return (name,) if "/" in name else ()
        return self.step_codes


@dataclasses.dataclass(frozen=True)
class _Index:
    """A catalog's candidates by code and its workflow jobs by job, so a lookup per
    candidate scored stays constant time: a 1 MiB catalog holds some 16 000 candidates,
    and a scan per lookup took over a minute to score them. The first match wins, as a scan
    would find it (validation makes both keys unique anyway). Derived from the candidates,
    it takes no part in a catalog's equality (pydantic compares private attributes)."""

    candidates: tuple[CandidateSpec, ...] = dataclasses.field(compare=False)
    by_code: dict[str, CandidateSpec] = dataclasses.field(compare=False)
    by_workflow_job: dict[str, str] = dataclasses.field(compare=False)

    @classmethod
    def of(cls, candidates: tuple[CandidateSpec, ...]) -> "_Index":
        by_code: dict[str, CandidateSpec] = {}
        by_job: dict[str, str] = {}
        for c in candidates:
            by_code.setdefault(c.code, c)
            if c.source == WORKFLOW:
                for job in c.covered_codes:
                    by_job.setdefault(job, c.code)
        return cls(candidates, by_code, by_job)


class Catalog(_Strict):
    version: Literal[1]
    candidates: Annotated[tuple[CandidateSpec, ...], ListAsTuple] = ()
    # Built for () until first used (see _indexed); never None, which would compare unequal.
    _index: _Index = PrivateAttr(default=_Index((), {}, {}))

    @model_validator(mode="after")
    def _unique_codes(self) -> "Catalog":
        repeated = _repeated(c.code for c in self.candidates)
        if repeated:
            raise _invalid(f"candidate codes must be distinct, repeated: {', '.join(repeated)}")
        jobs = [job for c in self.candidates if c.source == WORKFLOW for job in c.covered_codes]
        twice = _repeated(jobs)
        if twice:
            raise _invalid(f"a workflow job belongs to one candidate, covered twice: {twice[0]}")
        return self

    def _indexed(self) -> _Index:
        # Built on first use, and again if the candidates are not the ones it was built
        # from: model_copy(update=...) carries private attributes over unchanged.
        index = self._index
        if index.candidates is not self.candidates:
            index = self._index = _Index.of(self.candidates)
        return index

    def get(self, code: str) -> CandidateSpec | None:
        return self._indexed().by_code.get(code)

    def workflow_candidate(self, job: str) -> str | None:
        """The code of the declared workflow candidate covering ``job``
        (``<namespace>/<name>``), if any."""
        return self._indexed().by_workflow_job.get(job)

    @property
    def job_backed(self) -> tuple[CandidateSpec, ...]:
        return tuple(c for c in self.candidates if c.source == "job")


EMPTY_CATALOG = Catalog(version=1)


def parse_catalog(document: object, origin: str = "catalog", *, from_yaml: bool = False) -> Catalog:
    """Validate an already-parsed catalog document; errors are one line naming the field
    (and, ``from_yaml``, saying when YAML read a value as no text)."""
    if not isinstance(document, dict):
        raise InvalidInput(f"{origin}: a catalog is a mapping with version and candidates")
    try:
        return Catalog.model_validate(document)
    except ValidationError as exc:
        hint = yaml_scalar_hint(exc.errors()[0]) if from_yaml else ""
        raise InvalidInput(f"{origin}: {first_problem(exc, 'catalog')}{hint}") from None


def load_catalog(path: "str | Path") -> Catalog:
    document = read_yaml_file(path, "catalog")
    return parse_catalog(document, f"catalog {describe(path)}", from_yaml=True)


def sample_catalog_path() -> Path:
    return Path(str(resources.files("procobs_dagster.demo") / "sample_data" / "catalog.yaml"))


def default_catalog_path() -> Path:
    """``$PROCOBS_CATALOG`` when set, else the bundled sample catalog."""
    return Path(setting(CATALOG_ENV, "the bundled sample catalog") or sample_catalog_path())
