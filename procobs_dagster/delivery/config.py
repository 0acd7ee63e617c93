"""Sink configuration: one YAML file, or rows of the delivery_sink table.

A YAML file lists the sinks under ``sinks:``::

    sinks:
      - name: saas
        kind: webhook
        url: https://hooks.example.com/procobs
        secret_env: PROCOBS_SAAS_WEBHOOK_SECRET   # the variable's NAME, never the secret
        ordered: true
      - name: archive
        kind: file
        path: /var/lib/procobs/events.jsonl

Only the name of the environment variable holding a webhook secret is ever configured or
stored; the relay reads the value from its environment when it starts. A webhook URL may
therefore carry no secret of its own: credentials (``user:pw@``), a query string or a
fragment are refused — procobs cannot tell a token from a harmless parameter, and the URL
is stored and shown. Receivers authenticate the relay by its signature instead.

Every number has bounds: finite, and far inside what a datetime and both databases hold,
so no sink — configured now or stored long ago — can make the relay's arithmetic
overflow. Link-local and cloud-metadata destinations are refused unless the sink sets
``allow_link_local`` (see delivery.addresses).
"""

import dataclasses
import datetime as dt
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

import pydantic
import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.engine import Connection

from procobs_dagster.clock import utcnow
from procobs_dagster.delivery.addresses import ALLOW_OPTION, refused_host
from procobs_dagster.errors import ConfigurationError, InvalidInput
from procobs_dagster.events.types import ALL_EVENT_TYPES
from procobs_dagster.input_files import describe, read_yaml_file, yaml_scalar_hint
from procobs_dagster.limits import (
    MAX_TEXT_LENGTH,
    ListAsTuple,
    identifier_problem,
    printable,
    text_problem,
)
from procobs_dagster.records import UnusableRow
from procobs_dagster.store.dialect import upsert
from procobs_dagster.store.tables import delivery_sink
from procobs_dagster.store.types import StoredBoolean

SINKS_FILE_ENV = "PROCOBS_SINKS_FILE"
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# Bounds of a sink's numbers (seconds unless named otherwise).
TIMEOUT_MIN, TIMEOUT_MAX = 0.1, 600.0
BACKOFF_MIN, BACKOFF_MAX = 0.01, 7 * 24 * 3600.0  # base and cap: a week at most
DEAD_AFTER_MAX = 1_000_000  # rejections or attempts
# Every event fans out to every enabled sink: the delivery queue grows by events x sinks.
MAX_SINKS = 100
URL_MAX_LENGTH = 2048
_FINITE = {"allow_inf_nan": False}


# A sinks file and a delivery_sink row give event types as a list.
EventTypes = Annotated[tuple[str, ...], ListAsTuple]


def _check_url(url: str, allow_link_local: bool) -> None:
    """Refuse a webhook URL that is no plain http(s) address or that would keep a secret
    in the database; the messages never repeat the URL (it may hold that secret)."""
    problem = text_problem(url, URL_MAX_LENGTH)
    if problem:
        raise ValueError(f"url {problem}")
    if any(ch.isspace() for ch in url):
        raise ValueError("url must not contain spaces")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("url must be http(s)://host/...")
    if "@" in parts.netloc or "?" in url or "#" in url:
        raise ValueError(
            "url must not carry credentials, a query or a fragment (it is stored and "
            "shown): the relay signs every request with the secret named by secret_env"
        )
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        raise ValueError("url has a port that is not a number from 1 to 65535")
    refused = None if allow_link_local else refused_host(parts.hostname)
    if refused:
        raise ValueError(f"url: {refused}; set {ALLOW_OPTION}: true on the sink to allow it")


class SinkConfig(BaseModel):
    """One destination for events. Defaults suit a production webhook.

    Strict: a value of the wrong type ("true" for a bool, "5" for a number, 5.0 for a
    count) is refused, not converted. A whole number is a valid decimal, and a list is
    taken for ``event_types``: the forms YAML writes."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=100)]
    kind: Literal["webhook", "file", "null"]
    url: str | None = None
    # The NAME of the environment variable that holds the HMAC secret (webhook only).
    secret_env: Annotated[str, Field(pattern=ENV_NAME.pattern, max_length=100)] | None = None
    path: str | None = None
    timeout_seconds: Annotated[float, Field(ge=TIMEOUT_MIN, le=TIMEOUT_MAX, **_FINITE)] = 10.0
    dead_after_rejections: Annotated[int, Field(ge=1, le=DEAD_AFTER_MAX)] = 5
    dead_after_attempts: Annotated[int, Field(ge=1, le=DEAD_AFTER_MAX)] | None = None
    backoff_base_seconds: Annotated[float, Field(ge=BACKOFF_MIN, le=BACKOFF_MAX, **_FINITE)] = 1.0
    backoff_cap_seconds: Annotated[float, Field(ge=BACKOFF_MIN, le=BACKOFF_MAX, **_FINITE)] = 300.0
    ordered: bool = False
    event_types: EventTypes | None = None
    enabled: bool = True
    # Lets a webhook reach link-local and cloud-metadata addresses (delivery.addresses).
    allow_link_local: bool = False

    @pydantic.model_validator(mode="after")
    def _consistent(self) -> "SinkConfig":
        wants = {"webhook": {"url", "secret_env"}, "file": {"path"}, "null": set()}[self.kind]
        for field in ("url", "secret_env", "path"):
            given = getattr(self, field) is not None
            if field in wants and not given:
                raise ValueError(f"a {self.kind} sink needs {field}")
            if given and field not in wants:
                raise ValueError(f"{field} does not apply to a {self.kind} sink")
        if self.url is not None:
            _check_url(self.url, self.allow_link_local)
        problem = None if self.path is None else identifier_problem(self.path, MAX_TEXT_LENGTH)
        if problem:
            raise ValueError(f"path {problem}")
        if self.allow_link_local and self.kind != "webhook":
            raise ValueError(f"{ALLOW_OPTION} does not apply to a {self.kind} sink")
        if self.backoff_cap_seconds < self.backoff_base_seconds:
            raise ValueError("backoff_cap_seconds must be >= backoff_base_seconds")
        unknown = sorted(set(self.event_types or ()) - set(ALL_EVENT_TYPES))
        if unknown:
            raise ValueError(f"unknown event type(s) {', '.join(unknown)}")
        return self

    @property
    def redacted_url(self) -> str | None:
        """The URL without credentials or query string, safe to print."""
        if self.url is None:
            return None
        parts = urlsplit(self.url)
        host = parts.hostname or ""
        host = f"[{host}]" if ":" in host else host
        try:
            netloc = f"{host}:{parts.port}" if parts.port else host
        except ValueError:
            netloc = host
        query = "…" if parts.query else ""
        return urlunsplit((parts.scheme, netloc, parts.path, query, ""))

    def public(self) -> dict[str, Any]:
        """The configuration as shown to people: the URL redacted, the secret only by name."""
        shown = self.model_dump(mode="json")
        shown["url"] = self.redacted_url
        return shown


def _one_line(exc: pydantic.ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def parse_sink(raw: Any, where: str) -> SinkConfig:
    if not isinstance(raw, dict):
        raise ConfigurationError(f"{where}: a sink is a mapping, got {type(raw).__name__}")
    label = f"{where} sink {raw.get('name')!r}" if raw.get("name") else f"{where} sink"
    try:
        return SinkConfig.model_validate(raw)
    except pydantic.ValidationError as exc:
        problem = _one_line(exc) + yaml_scalar_hint(exc.errors()[0])
        raise ConfigurationError(f"{label}: {problem}") from None


def unique_names(configs: Sequence[SinkConfig], where: str) -> list[SinkConfig]:
    seen: set[str] = set()
    for config in configs:
        if config.name in seen:
            raise ConfigurationError(f"{where}: sink {config.name!r} is configured twice")
        seen.add(config.name)
    return list(configs)


def load_sinks_file(path: "str | Path") -> list[SinkConfig]:
    """Read and validate a sinks YAML file; any problem is one ConfigurationError."""
    path = Path(path)
    try:
        document = read_yaml_file(path, "sinks file")
    except InvalidInput as exc:
        raise ConfigurationError(str(exc)) from None
    path = describe(path)
    if not isinstance(document, dict) or set(document) != {"sinks"}:
        raise ConfigurationError(f"sinks file {path}: expected one top-level key 'sinks'")
    entries = document["sinks"]
    if not isinstance(entries, list):
        raise ConfigurationError(f"sinks file {path}: 'sinks' must be a list")
    if len(entries) > MAX_SINKS:
        raise ConfigurationError(
            f"sinks file {path}: {len(entries)} sinks, at most {MAX_SINKS} (each event is "
            "delivered to every sink)"
        )
    configs = [parse_sink(raw, f"{path}[{i}]") for i, raw in enumerate(entries)]
    return unique_names(configs, str(path))


_SINK_FIELDS = tuple(SinkConfig.model_fields)


@dataclasses.dataclass(frozen=True)
class StoredSinks:
    """The sinks of delivery_sink: those usable, and rows left aside with the reason."""

    configs: list[SinkConfig]
    unusable: list[UnusableRow] = dataclasses.field(default_factory=list)

    def check_names(self, names: Sequence[str]) -> None:
        """Refuse, naming its problem, a sink asked for by name whose row is unusable."""
        for row in self.unusable:
            if row.key in names:
                raise ConfigurationError(str(row))

    def check_usable(self) -> None:
        """Refuse, naming the first one's problem, rows stored when none is usable: the
        events would wait with nothing said but a warning."""
        if self.unusable and not self.configs:
            raise ConfigurationError(str(self.unusable[0]))


_FIX_SINK = (
    "fix it with `procobs relay import-sinks FILE` (a sink of the same name replaces it); "
    "its events wait, none is lost"
)


# A flag SQLite holds as other than 0 or 1 reaches the model as it is, which refuses it
# for that row alone, instead of the whole table's reading.
_STORED_SINK_COLUMNS = [
    sa.type_coerce(column, StoredBoolean(as_stored=True)).label(column.name)
    if isinstance(column.type, StoredBoolean)
    else column
    for column in delivery_sink.c
]


def load_sinks_table(conn: Connection) -> StoredSinks:
    """Every sink in delivery_sink, enabled or not, by name.

    Rows are checked as a sinks file is: one that is no valid sink now (stored by an older
    procobs, or by hand) is left aside and reported, and the others are used."""
    rows = conn.execute(sa.select(*_STORED_SINK_COLUMNS).order_by(delivery_sink.c.name))
    stored = StoredSinks([])
    for row in rows.mappings():
        raw = {f: row[f] for f in _SINK_FIELDS if row[f] is not None}
        try:
            stored.configs.append(SinkConfig.model_validate(raw))
        except pydantic.ValidationError as exc:
            problem = printable(_one_line(exc))
            stored.unusable.append(
                UnusableRow("delivery_sink", str(row["name"]), problem, _FIX_SINK)
            )
    return stored


def save_sinks(conn: Connection, configs: Iterable[SinkConfig], at: dt.datetime | None = None):
    """Insert or replace sinks in delivery_sink (the secret's variable name only); more
    than ``MAX_SINKS`` stored in all is an error, which leaves the caller's transaction to
    roll back."""
    now = at or utcnow()
    for config in configs:
        values = config.model_dump()
        values["event_types"] = list(config.event_types) if config.event_types else None
        values["updated_at"] = now
        conn.execute(
            upsert(
                conn.dialect.name,
                delivery_sink,
                {**values, "created_at": now},
                key=["name"],
                update=[k for k in values if k != "name"],
            )
        )
    stored = conn.execute(sa.select(sa.func.count()).select_from(delivery_sink)).scalar_one()
    if stored > MAX_SINKS:
        raise ConfigurationError(
            f"{stored} sinks in delivery_sink with these, at most {MAX_SINKS} (each event is "
            "delivered to every sink)"
        )


def select_sinks(configs: Sequence[SinkConfig], names: Sequence[str]) -> list[SinkConfig]:
    """The enabled sinks, or exactly the ``names`` asked for (each must exist)."""
    if not names:
        return [c for c in configs if c.enabled]
    by_name = {c.name: c for c in configs}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        known = ", ".join(sorted(by_name)) or "none"
        raise ConfigurationError(f"unknown sink {unknown[0]!r} (configured: {known})")
    return [by_name[n] for n in dict.fromkeys(names)]
