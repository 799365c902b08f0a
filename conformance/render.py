"""matrix.json and the reports, rebuilt from results.jsonl alone (a run's end, `conformance report`, merge)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from conformance import safejson
from conformance.derived import Derived, Key, derived_records
from conformance.matrix import build_matrix, write_matrix
from conformance.paths import refuse_links_out
from conformance.records import ExchangeRecord, Matrix, MatrixHead, ResultLine
from conformance.results import RESULTS_FILE, read_results


def render_dir(
    out_dir: Path,
    meta: MatrixHead | None = None,
    history: Sequence[Matrix] | None = None,
    baseline: Matrix | None = None,
    ready: Mapping[Key, Derived] | None = None,
    records: Sequence[ResultLine] | None = None,
) -> Matrix:
    """Rebuild matrix.json and the reports from results.jsonl alone (and `ready`: derived cells the run made);
    `records` are its lines, when the run that wrote them read them meanwhile. `meta` is the run's metadata:
    what it does not say (the totals, the time) is added here."""
    refuse_links_out(out_dir)
    records = list(read_results(out_dir / RESULTS_FILE)) if records is None else list(records)
    # Derived cells: the Python SDK (the "sdk" column) and the Node SDK ("clients") re-read the recorded answers.
    records += derived_records(records, ready)
    head = meta or MatrixHead()
    now = {"generated_at": datetime.now(UTC).isoformat(timespec="seconds")}
    unsaid = {k: v for k, v in {**_totals(records), **now}.items() if k not in head.model_fields_set}
    matrix = build_matrix(records, head.model_copy(update=unsaid))
    write_matrix(matrix, out_dir)
    from conformance.report import write_reports  # the report layer reads results only

    write_reports(matrix, out_dir, baseline=baseline, history=history, records=records)
    return matrix


def warm() -> None:
    """Load the report layer and compile its templates: a large live run does it while it waits for answers."""
    from conformance.report.html import warm as warm_pages

    warm_pages()


def _totals(records: Iterable[ResultLine]) -> dict[str, Any]:
    requests = tokens = 0
    providers: dict[str, str] = {}
    for record in records:
        requests += _requests(record)
        for ex in record.exchanges:
            providers.setdefault(record.provider, ex.request.url.split("/responses")[0])
            tokens += _tokens(ex)
    return {"providers": providers, "requests": requests, "tokens": tokens}


def _requests(record: ResultLine) -> int:
    """Every request the cell sent: a semantic retry's earlier attempts too, whose exchanges are not kept."""
    tries = [t.requests for t in record.attempts or ()]
    if tries and all(n is not None for n in tries):
        return sum(n or 0 for n in tries)
    return sum(1 + len(ex.attempts or ()) for ex in record.exchanges)


def _tokens(exchange: ExchangeRecord) -> int:
    """total_tokens of a JSON response, or of a stream's last event's response."""
    events = exchange.events
    text = events[-1].data if events else exchange.body
    try:
        body = safejson.loads(text or "null")
    except ValueError:
        return 0
    if isinstance(body, dict) and isinstance(body.get("response"), dict):
        body = body["response"]
    usage = body.get("usage") if isinstance(body, dict) else None
    total = usage.get("total_tokens") if isinstance(usage, dict) else None
    return total if isinstance(total, int) else 0
