"""The one event envelope: immutable, validated, CloudEvents 1.0 compatible.

Serialised as a CloudEvents *structured-mode* JSON document. procobs' own attributes are
CloudEvents extensions (lowercase alphanumeric names): ``correlationid``,
``causationid``, ``schemaversion``.
"""

import datetime as dt
import json
import uuid
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from procobs_dagster.clock import ensure_utc

DEFAULT_SOURCE = "urn:procobs"

AwareUTC = Annotated[dt.datetime, AfterValidator(lambda v: ensure_utc(v, "time"))]


class Envelope(BaseModel):
    # Strict: built from Python values only (emit's, an event_outbox row's), which are of
    # the right type on both databases; a string where the id or the time belongs is a bug.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    specversion: Literal["1.0"] = "1.0"
    id: uuid.UUID
    source: Annotated[str, Field(min_length=1)]
    type: Annotated[str, Field(min_length=1)]
    time: AwareUTC
    subject: str | None = None
    datacontenttype: Literal["application/json"] = "application/json"
    correlationid: Annotated[str, Field(min_length=1)]
    causationid: str | None = None
    schemaversion: Annotated[int, Field(ge=1)] = 1
    data: dict[str, Any]

    def to_cloudevent(self) -> dict[str, Any]:
        """The structured-mode CloudEvents document (JSON-ready; optional nulls omitted)."""
        return self.model_dump(mode="json", exclude_none=True)

    def to_json(self) -> str:
        return json.dumps(self.to_cloudevent(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_outbox_row(cls, row) -> "Envelope":
        """Rebuild the envelope of an event_outbox row (what delivery sends)."""
        return cls(
            id=row["event_id"],
            source=row["source"],
            type=row["event_type"],
            time=row["occurred_at"],
            subject=row["subject"],
            correlationid=row["correlation_id"],
            causationid=row["causation_id"],
            schemaversion=row["schema_version"],
            data=row["safe_payload"],
        )
