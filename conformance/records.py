"""The suite's written formats as typed records: one results.jsonl line, and matrix.json.

These models are the formats' single statement: runs write through them, readers validate with them,
and the JSON Schemas shipped in conformance/report/ are generated from them
(`python -m conformance.records`; a test fails when the shipped files drift). Every record allows
keys it does not know, because the formats grow by adding keys and an older reader must still read
a newer run.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.config import JsonDict

from conformance.catalog.model import CATALOG_VERSION, Catalog, ModelEntry, SourceReport
from conformance.evidence import Exchange, Finding, Level, SSEEvent, Status, request_body_fields
from conformance.profiles import MAX_BODY_CAP_BYTES, MAX_MODELS, Claim, Claims, ClaimSpec, ProfileFile

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
DATE_TIME: JsonDict = {"format": "date-time"}
HTTP_STATUS = Field(ge=0, le=999)  # three digits: all a status line can carry, whatever a server puts there


class Record(BaseModel):
    model_config = ConfigDict(extra="allow")


class FindingRecord(Record):
    """One broken (or noted) rule, with the evidence quoted in its message."""

    rule: str = Field(min_length=1)
    level: Level
    message: str

    @classmethod
    def of(cls, finding: Finding) -> FindingRecord:
        return cls(rule=finding.rule, level=finding.level, message=finding.message)

    def finding(self) -> Finding:
        return Finding(self.rule, self.level, self.message)


class EventRecord(Record):
    """One dispatched server-sent event; offset_ms is when its last byte arrived."""

    offset_ms: float = Field(ge=0)
    event: str | None
    data: str
    id: str | None = None
    retry: int | None = Field(default=None, ge=0)

    @classmethod
    def of(cls, event: SSEEvent) -> EventRecord:
        fields = {"offset_ms": round(event.offset_ms, 3), "event": event.event, "data": event.data}
        optional = {k: v for k, v in (("id", event.id), ("retry", event.retry)) if v is not None}
        return cls.model_validate({**fields, **optional})  # only the keys given are written

    def event_(self) -> SSEEvent:
        return SSEEvent(data=self.data, event=self.event, id=self.id, retry=self.retry, offset_ms=self.offset_ms)


class RequestRecord(Record):
    """The request as sent, credentials redacted."""

    method: str = Field(min_length=1)
    url: str
    headers: dict[str, str]
    body: str = Field(
        description="The body as sent; when body_length is present, clipped: a JSON body keeps its structure with "
        "each string cut to 1,024 characters, any other body keeps its first 65,536 characters."
    )
    body_length: int | None = Field(default=None, ge=0, description="The full body's length, when clipped.")
    body_sha256: str | None = Field(default=None, description="The full body's SHA-256, when clipped.")


class AttemptRecord(Record):
    """A try a retry replaced: its answer (or failure), the wait before the next try, and what set the wait."""

    status: int | None = HTTP_STATUS
    error: str | None = None
    wait_s: float = Field(ge=0)
    basis: str


class ExchangeRecord(Record):
    """One HTTP request and what came back. A non-stream answer has `body`, a stream has `events`.

    `invalid_utf8` is written only when bytes that are not UTF-8 were replaced; `attempts` only when a
    retry replaced earlier answers (oldest first).
    """

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "oneOf": [
                {"required": ["body"], "not": {"required": ["events"]}},
                {"required": ["events"], "not": {"required": ["body"]}},
            ]
        },
    )

    request: RequestRecord
    status: int | None = HTTP_STATUS
    headers: dict[str, str]
    elapsed_ms: float = Field(ge=0)
    first_byte_ms: float | None = Field(ge=0)
    error: str | None
    invalid_utf8: bool | None = None
    attempts: list[AttemptRecord] | None = None
    body: str | None = None
    events: list[EventRecord] | None = None

    @classmethod
    def of(cls, ex: Exchange) -> ExchangeRecord:
        optional: dict[str, Any] = {}
        if ex.invalid_utf8:
            optional["invalid_utf8"] = True
        if ex.attempts:
            optional["attempts"] = [AttemptRecord.model_validate(a) for a in ex.attempts]
        if ex.events is None:
            optional["body"] = ex.body
        else:
            optional["events"] = [EventRecord.of(e) for e in ex.events]
        return cls(
            request=RequestRecord(
                method=ex.method, url=ex.url, headers=ex.request_headers, **request_body_fields(ex.request_body)
            ),
            status=ex.status,
            headers=ex.headers,
            elapsed_ms=round(ex.elapsed_ms, 3),
            first_byte_ms=None if ex.first_byte_ms is None else round(ex.first_byte_ms, 3),
            error=ex.error,
            **optional,
        )

    def exchange(self) -> Exchange:
        """The evidence back, everything the checks read included (attempts, invalid_utf8)."""
        return Exchange(
            method=self.request.method,
            url=self.request.url,
            request_headers=dict(self.request.headers),
            request_body=self.request.body,
            status=self.status,
            headers=dict(self.headers),
            body=self.body or "",
            events=None if self.events is None else tuple(e.event_() for e in self.events),
            elapsed_ms=self.elapsed_ms,
            first_byte_ms=self.first_byte_ms,
            error=self.error,
            invalid_utf8=bool(self.invalid_utf8),
            attempts=tuple(a.model_dump(mode="json", exclude_unset=True) for a in self.attempts or ()),
        )


class ClaimRecord(Record):
    """What the provider documents for this cell, and where that comes from ('' when nowhere)."""

    claim: Claim
    source: str
    note: str | None = None


class TryRecord(Record):
    """One attempt of a cell retried because only semantic checks failed."""

    status: Status
    findings: list[FindingRecord]
    requests: int | None = Field(default=None, ge=0, description="HTTP requests the attempt sent, every try counted.")


TRIES = Field(default=None, pattern=r"^\d+/\d+$", description="Attempts that met the semantic checks")
FLAKY = Field(default=None, description="Attempts of the cell disagreed.")


class _Place(Protocol):
    provider: str
    model: str
    probe: str


class Placed:
    """Where a cell goes, for a results line and a matrix cell alike. Not a model of its own: fields it
    declared would come first in both records, and change the order their files have always been written in."""

    @property
    def key(self: _Place) -> tuple[str, str, str]:
        return (self.provider, self.model, self.probe)

    @property
    def row(self: _Place) -> tuple[str, str]:
        return (self.provider, self.model)


class CellExtras(Record):
    """What a cell may carry beside its verdict: retries, and the provider's deprecation notices."""

    redirected: list[str] | None = Field(
        default=None, description="Each distinct x-warning (redirect notice) the provider sent."
    )
    tries: str | None = TRIES
    flaky: bool | None = FLAKY
    attempts: list[TryRecord] | None = None


class CellRecord(CellExtras):
    """One finished cell (provider, model, probe): its verdict, the findings behind it and every exchange as
    evidence. Later lines for the same cell replace earlier ones."""

    provider: str = Field(min_length=1)
    model: str = Field(min_length=1)
    feature: str
    probe: str = Field(min_length=1)
    title: str
    status: Status
    findings: list[FindingRecord]
    semantic_checks: bool = Field(description="false: answers were not judged on their meaning.")
    started_at: str = Field(json_schema_extra=DATE_TIME)
    elapsed_ms: float = Field(ge=0)
    exchanges: list[ExchangeRecord]
    claim: ClaimRecord
    drift: bool = Field(description="The claim and the observed status disagree.")


def first_problem(exc: ValidationError, whole: str) -> str:
    """A validation error as one line: where the first problem is (`whole` when it is the whole value), and what."""
    error = exc.errors(include_url=False)[0]
    return f"{'.'.join(map(str, error['loc'])) or whole}: {error['msg']}"


def written(*names: str) -> Callable[[JsonDict], None]:
    """Keys every writer writes, so the schema requires them, though the model defaults them: a matrix is read
    leniently (an older or hand-made one lacks keys that were added since, and must still render)."""

    def extra(schema: JsonDict) -> None:
        required = schema.get("required")
        schema["required"] = [*(required if isinstance(required, list) else []), *names]

    return extra


STATUS_TEXT = Field(
    min_length=1,
    description="A status of `statuses`. A matrix is built from results of any version, so a status a newer suite "
    "added is kept as its text, and a reader shows it as unknown rather than refusing the file.",
)


class ResultLine(CellExtras, Placed):
    """A results.jsonl line as it is read back, written by a run of any version: the types CellRecord writes
    are checked, so a hand-edited or foreign line is one error naming its line rather than a crash further
    on, while keys added since are optional and a status this version does not know is kept as text."""

    provider: str = Field(min_length=1)
    model: str = Field(min_length=1)
    feature: str
    probe: str = Field(min_length=1)
    title: str = ""
    status: str = STATUS_TEXT
    findings: list[FindingRecord]
    semantic_checks: bool = True
    started_at: str = ""
    elapsed_ms: float = Field(default=0, ge=0)
    exchanges: list[ExchangeRecord] = []
    claim: ClaimRecord | None = None
    drift: bool = False

    @classmethod
    def of(cls, cell: CellRecord) -> ResultLine:
        """A line the suite has just validated as it writes it, as a reader sees it: not validated again."""
        fields = {**cell.__dict__, "status": cell.status.value, **(cell.model_extra or {})}
        return cls.model_construct(cell.model_fields_set, **fields)

    def written(self) -> dict[str, Any]:
        """The line's JSON value: the keys it was read or made with, nothing a default added."""
        return self.model_dump(mode="json", exclude_unset=True)


class RowRecord(Record):
    provider: str
    model: str


class ProbeRecord(Record):
    model_config = ConfigDict(extra="allow", json_schema_extra=written("feature", "title"))

    id: str = Field(min_length=1)
    feature: str = ""
    title: str = ""

    @property
    def short(self) -> str:
        return self.id.removeprefix(self.feature + ".")


class TimingRecord(Record):
    """One exchange's timings, all the matrix keeps of it."""

    model_config = ConfigDict(extra="allow")

    first_byte_ms: float | None
    elapsed_ms: float | None

    @field_validator("first_byte_ms", "elapsed_ms", mode="before")
    @classmethod
    def _unknown(cls, value: Any) -> Any:
        """A time that is not a finite number (a hand-made matrix's NaN) is unknown, not an unreadable cell."""
        return None if isinstance(value, float) and not math.isfinite(value) else value


class MatrixCell(Record, Placed):
    """One cell of the matrix; DRIFT is recomputed from the status, the evidence stays in results.jsonl.

    Its fields are in the order matrix.json has always had its keys, so CellExtras's come between them."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra=written("feature", "findings", "semantic_checks", "claim", "drift", "redirected", "latency"),
    )

    provider: str = Field(min_length=1)
    model: str = Field(min_length=1)
    feature: str = ""
    probe: str = Field(min_length=1)
    status: str = STATUS_TEXT
    findings: list[FindingRecord] = []
    semantic_checks: bool = True
    claim: ClaimRecord = ClaimRecord(claim="unknown", source="")
    drift: bool = False
    redirected: list[str] = Field(
        default=[], description="Each distinct x-warning (redirect notice) the provider sent."
    )
    tries: str | None = TRIES
    flaky: bool | None = FLAKY
    attempts: list[TryRecord] | None = None
    latency: list[TimingRecord] = Field(
        default=[],
        description="Per exchange, in order: time to first byte and total time in ms (null when unknown). "
        "The exchanges themselves are in results.jsonl.",
    )

    @model_validator(mode="before")
    @classmethod
    def _older_forms(cls, data: Any) -> Any:
        """A matrix written before a key took its present form still reads: a bare claim, exchanges inline."""
        if not isinstance(data, dict):
            return data
        upgraded = dict(data)
        if isinstance(data.get("claim"), str):
            upgraded["claim"] = {"claim": data["claim"], "source": ""}
        if "latency" not in data and isinstance(data.get("exchanges"), list):
            timings = [x for x in data["exchanges"] if isinstance(x, dict)]
            upgraded["latency"] = [{k: x.get(k) for k in ("first_byte_ms", "elapsed_ms")} for x in timings]
        return upgraded

    @property
    def reason(self) -> str:
        """The finding that decided the cell (findings come ordered by what decided the verdict)."""
        return self.findings[0].message if self.findings else ""


class MatrixHead(Record):
    """A run's metadata: everything in matrix.json but the vocabulary, the rows, the columns and the cells."""

    model_config = ConfigDict(extra="allow", json_schema_extra=written("suite_version", "generated_at", "providers"))

    # in the order a run writes them, so that matrix.json keeps its key order
    suite_version: str = ""
    providers: dict[str, str] = Field(default={}, description="Provider name to the endpoint its requests went to.")
    requests: int | None = Field(default=None, ge=0, description="HTTP requests sent, every try counted.")
    tokens: int | None = Field(default=None, ge=0, description="total_tokens reported by the answers.")
    mode: str | None = Field(default=None, description="replay, live, record (<mode>), merged or pytest.")
    started_at: str | None = Field(default=None, json_schema_extra=DATE_TIME)
    not_probed: dict[str, str] | None = Field(default=None, description="Catalog models left out, and why.")
    duration_s: float | None = Field(default=None, ge=0)
    generated_at: str = Field(default="", json_schema_extra=DATE_TIME)


class Matrix(MatrixHead):
    """A run as the reports read it: run metadata, the status vocabulary, the rows (provider, model), the
    probes (columns) and one cell per (provider, model, probe) that ran, with its evidence. Rebuilt from
    results.jsonl alone."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra=written(
            "suite_version", "generated_at", "providers", "requests", "tokens", "statuses", "rows", "probes", "cells"
        ),
    )

    statuses: list[str] = Field(default=[], json_schema_extra={"uniqueItems": True})
    rows: list[RowRecord] = []
    probes: list[ProbeRecord] = []
    cells: list[MatrixCell] = []


# -- the catalog snapshot: what was known of the models before probing, stored beside results and cassettes ---


class CatalogClaimRecord(Record):
    claim: Claim
    source: str = ""


class ModelEntryRecord(Record):
    """One model as the catalogs describe it. null and empty mean "not said", never "no"."""

    id: str = Field(min_length=1)
    name: str = ""
    available: bool | None = None
    claims: dict[str, CatalogClaimRecord] = Field(
        default={}, description="Per feature group, and which catalog said so."
    )
    rate_limit_per_min: int | None = Field(default=None, ge=0)
    rate_limit_anonymous_per_min: int | None = Field(default=None, ge=0)
    context_length: int | None = Field(default=None, ge=0)
    category: str = ""
    tags: list[str] = []
    input_modalities: list[str] = []
    output_modalities: list[str] = []
    sources: list[str] = []
    deprecated: bool | None = None
    replaced_by: str = ""

    @classmethod
    def of(cls, entry: ModelEntry) -> ModelEntryRecord:
        claims = {
            f: CatalogClaimRecord(claim=c, source=entry.claim_sources.get(f, "")) for f, c in entry.claims.items()
        }
        fields = {f: getattr(entry, f) for f in cls.model_fields if f != "claims"}
        return cls.model_validate({**fields, "claims": claims})

    def entry(self) -> ModelEntry:
        return ModelEntry(
            id=self.id,
            name=self.name,
            available=self.available,
            claims={f: c.claim for f, c in self.claims.items()},
            claim_sources={f: c.source for f, c in self.claims.items()},
            rate_limit_per_min=self.rate_limit_per_min,
            rate_limit_anonymous_per_min=self.rate_limit_anonymous_per_min,
            context_length=self.context_length,
            category=self.category,
            tags=tuple(self.tags),
            input_modalities=tuple(self.input_modalities),
            output_modalities=tuple(self.output_modalities),
            sources=tuple(self.sources),
            deprecated=self.deprecated,
            replaced_by=self.replaced_by,
        )


class SourceRecord(Record):
    """How one catalog source answered: HTTP status (null: no answer), models read, and any problem."""

    kind: str
    url: str
    status: int | None = HTTP_STATUS
    models: int = Field(ge=0)
    problem: str = ""


class ClaimSpecRecord(Record):
    claim: Claim
    note: str = ""


class ClaimsRecord(Record):
    """The profile's documented claims: provider-wide, and per model (which win)."""

    provider: dict[str, ClaimSpecRecord] = {}
    models: dict[str, dict[str, ClaimSpecRecord]] = {}

    @classmethod
    def of(cls, claims: Claims) -> ClaimsRecord:
        def table(specs: Mapping[str, ClaimSpec]) -> dict[str, ClaimSpecRecord]:
            return {k: ClaimSpecRecord(claim=s.value, note=s.note) for k, s in specs.items()}

        return cls(provider=table(claims.provider), models={m: table(t) for m, t in claims.models.items()})

    def claims(self) -> Claims:
        def table(specs: Mapping[str, ClaimSpecRecord]) -> dict[str, ClaimSpec]:
            return {k: ClaimSpec(s.claim, s.note) for k, s in specs.items()}

        return Claims(table(self.provider), {m: table(t) for m, t in self.models.items()})


class CatalogRecord(Record):
    """A provider's catalog as probing found it: the sources read, what they said of each model, the warnings."""

    version: Literal[1]
    provider: str = Field(min_length=1)
    sources: list[SourceRecord] = []
    warnings: list[str] = []
    claims: ClaimsRecord = ClaimsRecord()
    models: list[ModelEntryRecord] = []

    @classmethod
    def of(cls, catalog: Catalog) -> CatalogRecord:
        return cls(
            version=CATALOG_VERSION,
            provider=catalog.provider,
            sources=[SourceRecord.model_validate(asdict(s)) for s in catalog.sources],
            warnings=list(catalog.warnings),
            claims=ClaimsRecord.of(catalog.claims),
            models=[ModelEntryRecord.of(e) for e in catalog.entries],
        )

    def catalog(self) -> Catalog:
        return Catalog(
            provider=self.provider,
            entries=tuple(m.entry() for m in self.models),
            warnings=tuple(self.warnings),
            sources=tuple(SourceReport(**s.model_dump(include=set(SourceRecord.model_fields))) for s in self.sources),
            claims=self.claims.claims(),
        )


class Manifest(Record):
    """provider.json beside a provider's cassettes: what a replay needs to run as the recording did."""

    provider: str = Field(min_length=1)
    base_url: str
    semantic_checks: bool = True
    semantic_tries: int = Field(default=1, ge=1)  # a manifest older than retries was recorded with one try
    semantic_probes: list[str] = []
    models: list[str] = Field(max_length=MAX_MODELS)  # as many as a run takes: each is a replay's row of cells
    body_cap_bytes: int | None = Field(default=None, gt=0, le=MAX_BODY_CAP_BYTES)
    request_defaults: dict[str, Any] = {}  # fields every create sends unless it sets them, so replays send the same
    catalog: CatalogRecord | None = None  # the catalog snapshot


# -- the cassette: what replay reads, so its reading is strict (a wrong type is the file's error, not coerced) ----

TIME_MS = Field(ge=0, allow_inf_nan=False)  # a recorded time: finite, 0 or more


class WireRecord(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)


class ChunkRecord(WireRecord):
    """One network read as it arrived: its bytes as text when that is UTF-8 and readable, else base64."""

    model_config = ConfigDict(
        extra="allow", strict=True, json_schema_extra={"oneOf": [{"required": ["body"]}, {"required": ["body_base64"]}]}
    )

    offset_ms: float = TIME_MS
    body: str | None = None
    body_base64: str | None = None


class CassetteRequest(WireRecord):
    """The request as sent, credentials redacted; replay matches on method, URL and the body as JSON."""

    method: str = Field(min_length=1)
    url: str
    headers: dict[str, str] = {}
    body: str = ""


class TransportError(WireRecord):
    type: str
    message: str


class CassetteResponse(WireRecord):
    """What came back. A stream keeps its `chunks` (with parsed `events` beside them for readers; replay reparses
    the chunks); any other answer its `body` (or `body_base64`) and `first_byte_ms`."""

    status: int | None = HTTP_STATUS
    headers: dict[str, str] = {}
    elapsed_ms: float = TIME_MS
    first_byte_ms: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    chunks: list[ChunkRecord] | None = None
    events: list[EventRecord] | None = Field(default=None, description="For readers only; replay never reads them.")
    events_omitted: int | None = Field(default=None, ge=0)
    body: str | None = None
    body_base64: str | None = None
    error: TransportError | None = None


class InteractionRecord(WireRecord):
    request: CassetteRequest
    response: CassetteResponse


class CassetteRecord(WireRecord):
    """Every interaction of one probe against one model, in order, as recorded."""

    version: Literal[1]
    suite: str = ""
    provider: str
    model: str
    probe: str
    interactions: list[InteractionRecord]


SCHEMAS: dict[str, tuple[type[BaseModel], str]] = {
    "results": (CellRecord, "One line of results.jsonl"),
    "matrix": (Matrix, "matrix.json"),
    "profile": (ProfileFile, "A provider profile, matrices/<provider>.toml"),
    "catalog": (CatalogRecord, "A catalog snapshot, <run>/catalogs/<provider>.json and in provider.json"),
    "cassette": (CassetteRecord, "A cassette, matrices/cassettes/<provider>/<model>/<probe>.json"),
}


def json_schema(name: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one format, as shipped in conformance/report/<name>.schema.json."""
    model, title = SCHEMAS[name]
    schema = model.model_json_schema(mode="validation")
    grows = "" if name == "profile" else " Readers must ignore keys they do not know: the format grows by adding keys."
    schema["description"] = " ".join(str(schema.get("description", "")).split()) + grows
    return {"$schema": SCHEMA_DIALECT, **schema, "title": title}


def schema_path(name: str) -> Path:
    """Every shipped schema is package data beside the reports, so an installed suite has them too."""
    return Path(__file__).parent / "report" / f"{name}.schema.json"


def schema_text(name: str) -> str:
    return json.dumps(json_schema(name), indent=1, ensure_ascii=False) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Write the shipped schemas from the models; with --check, exit 1 when a shipped file differs."""
    parser = argparse.ArgumentParser(prog="python -m conformance.records", description=main.__doc__)
    parser.add_argument("--check", action="store_true", help="compare only; write nothing")
    args = parser.parse_args(argv)
    stale = []
    for name in SCHEMAS:
        path, text = schema_path(name), schema_text(name)
        shipped = json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
        if shipped != json.loads(text):  # 0 and 0.0 alike: pydantic versions differ
            stale.append(path)
            if not args.check:
                path.write_text(text, encoding="utf-8")
    for path in stale:
        print(f"{path}: {'out of date' if args.check else 'written'}")
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
