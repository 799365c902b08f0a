"""The "sdk" column: can the official `openai` SDK read what a model answered? Derived, never requested.

Two cells per (provider, model), made from that model's finished results records: `sdk.parses`
(every recorded 2xx answer to a JSON request) and `sdk.streams` (every recorded 2xx answer to a
stream request, through the SDK's accumulator). A cell is PASS when the SDK read every such answer,
FAIL when it raised on one, NOT RUN when the model recorded none. Each distinct complaint is one
finding naming the cells whose answers drew it; the derived cells carry no exchanges, the evidence
stays in the cells they name.

Derived when rendering, from results.jsonl, so they cost no request and a newer SDK re-judges old
runs. Records of feature "sdk" are never inputs, so deriving twice gives the same cells.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from conformance.catalog.model import claim_record
from conformance.checks.rules import Rule
from conformance.checks.sdk import COVERAGE, PARSES, STREAMS, RecordedSDK, complaint, sdk_reads
from conformance.evidence import Exchange, Status
from conformance.records import ExchangeRecord, ResultLine

FEATURE = "sdk"
SHOWN = 5  # cells named per finding; the rest are counted
CELLS = (
    (PARSES, "the official openai SDK parses every recorded 2xx JSON answer of the model", "JSON answer"),
    (STREAMS, "the official openai SDK's stream accumulator consumes every recorded 2xx stream of the model", "stream"),
)


CLIPPED = ("body_omitted_chars", "events_omitted")  # what results.jsonl says it cut of an answer's evidence


def exchange_of(record: ExchangeRecord) -> Exchange:
    """An Exchange back from its results form. An answer whose evidence was cut short (over 1 MiB of body,
    or too many events) is no longer the answer the server sent, so it comes back as one that did not arrive
    whole, which no client column reads."""
    exchange = record.exchange()
    extra = record.model_extra or {}
    if any(extra.get(key) for key in CLIPPED):
        return replace(exchange, error="the answer was cut short in the results' evidence, so it is not read again")
    return exchange


@dataclass
class Tally:
    """What a client made of one kind of answer across a model's cells."""

    read: int = 0
    failed: int = 0
    where: dict[str, list[str]] = field(default_factory=dict)  # complaint -> the answers that drew it


def sdk_records(records: Iterable[ResultLine]) -> list[ResultLine]:
    """One `sdk.parses` and one `sdk.streams` record per (provider, model) among `records`."""
    return [derived for key, cells in models_of(records) for derived in model_records(*key, cells)]


def models_of(
    records: Iterable[ResultLine], read: Callable[[ResultLine], bool] | None = None
) -> list[tuple[tuple[str, str], list[ResultLine]]]:
    """The cells a column reads (`read`; by default every cell but this column's), per (provider, model), in
    the order the models first appear; a model's cells by probe, so what is derived does not depend on the
    order the cells finished in."""
    by_model: dict[tuple[str, str], dict[str, ResultLine]] = {}
    for record in records:
        if read(record) if read is not None else record.feature != FEATURE:
            # a later record of a cell replaces an earlier one, as in the matrix
            by_model.setdefault(record.row, {})[record.probe] = record
    return [(key, sorted(cells.values(), key=lambda cell: cell.probe)) for key, cells in by_model.items()]


@dataclass(frozen=True)
class Said:
    """What a client made of one recorded answer: the derived cell it counts in, what it raised (None when
    it read the answer cleanly), and the answer's label (its cell's probe, and the exchange's number)."""

    rule: str
    complaint: str | None
    label: str


def model_records(
    provider: str, model: str, cells: Sequence[ResultLine], said: Sequence[Sequence[Said]] | None = None
) -> list[ResultLine]:
    """The model's two sdk cells: each cell's answers read through one SDK client, unless `said` (per cell,
    in the cells' order) already holds what it made of them."""
    if said is None:
        with RecordedSDK() as sdk:
            said = [cell_reads(cell, sdk) for cell in cells]
    tallies = tallied(said, (PARSES.id, STREAMS.id))
    base = derived_base(provider, model, cells, FEATURE)
    return [derived_line(base, derived_cell(rule, title, what, tallies[rule.id], model)) for rule, title, what in CELLS]


def cell_reads(cell: ResultLine, sdk: RecordedSDK) -> list[Said]:
    """What the SDK made of each of the cell's answers it reads (the calls it refuses are left out)."""
    exchanges = [exchange_of(e) for e in cell.exchanges]
    return [
        Said(answer.rule.id, complaint(answer), answer_label(cell, answer.number, len(exchanges)))
        for answer in sdk_reads(exchanges, sdk)
    ]


def answer_label(cell: ResultLine, number: int, exchanges: int) -> str:
    return cell.probe + (f" (exchange {number})" if exchanges > 1 else "")


def tallied(said: Iterable[Iterable[Said]], rules: Iterable[str]) -> dict[str, Tally]:
    """Per derived cell, the answers read, those raised on, and where each complaint came from."""
    tallies = {rule: Tally() for rule in rules}
    for one in (s for cell in said for s in cell):
        tally = tallies[one.rule]
        tally.read += 1
        if one.complaint is not None:
            tally.failed += 1
            tally.where.setdefault(one.complaint, []).append(one.label)
    return tallies


def derived_base(provider: str, model: str, cells: Sequence[ResultLine], feature: str) -> dict[str, Any]:
    """The fields a derived cell takes from the cells it read."""
    return {
        "provider": provider,
        "model": model,
        "feature": feature,
        "semantic_checks": all(cell.semantic_checks for cell in cells),
        "started_at": max(cell.started_at for cell in cells),
        "elapsed_ms": 0.0,
        "exchanges": [],
    }


def derived_line(base: dict[str, Any], cell: dict[str, Any]) -> ResultLine:
    """A derived cell's record, validated: a few per model, made of values built here."""
    return ResultLine.model_validate({**base, **cell})


def derived_cell(
    rule: Rule,
    title: str,
    what: str,
    tally: Tally,
    model: str,
    feature: str = FEATURE,
    coverage: Rule = COVERAGE,
    client: str = "the SDK",
) -> dict[str, Any]:
    """One derived cell: PASS when `client` read every answer, FAIL when it raised on one, NOT RUN with none."""
    status = Status.NOT_RUN if not tally.read else Status.FAIL if tally.failed else Status.PASS
    findings = [
        rule.finding(f"{complaint}, in {len(labels)} answer(s): {_names(labels)}")
        for complaint, labels in tally.where.items()
    ]
    findings.append(
        coverage.finding(
            f"{client} read {tally.read} recorded 2xx {what}(s) of this model, {tally.failed} with an error"
        )
    )
    return {
        "probe": rule.id,
        "title": title,
        "status": status.value,
        "findings": [f.to_json() for f in findings],
        **claim_record(None, model, rule.id, feature, status),
    }


def _names(labels: Sequence[str]) -> str:
    more = f" and {len(labels) - SHOWN} more" if len(labels) > SHOWN else ""
    return ", ".join(labels[:SHOWN]) + more
