"""A cell's evidence as the page shows it: bounded, as sent (the page lays JSON out), and safe inside a script.

Each row's evidence is a sidecar script, `evidence/<row>.js`, that the page loads when a cell opens (a
`<script src>` works from `file://`, where `fetch` does not). Its cells are gzipped JSON in base64
(`packed`), which the page inflates with the browser's DecompressionStream: a sixth of the JSON's size,
so a catalog's evidence is not the bulk of the out dir, and no byte of it can end the script. The page
turns it into DOM nodes with `textContent` only, which keeps every byte a server sent inert.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from markupsafe import Markup

from conformance.diff import Change
from conformance.records import EventRecord, ExchangeRecord, MatrixCell
from conformance.report.data import inline_exchanges, ms

BODY_LIMIT = 20_000
EVENT_LIMIT = 200
HEADER_LIMIT = 2_000
EVIDENCE_CALLBACK = "conformanceEvidence"
_SCRIPT_UNSAFE = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


Exchanges = Callable[[MatrixCell], Sequence[ExchangeRecord]]


def inline(cell: MatrixCell) -> Sequence[ExchangeRecord]:
    return inline_exchanges(cell)


def cell_evidence(cell: MatrixCell, exchanges: Sequence[ExchangeRecord], change: Change | None) -> dict[str, Any]:
    """Everything the evidence panel shows for one cell, bounded in size, as plain JSON values."""
    out: dict[str, Any] = {
        "probe": cell.probe,
        "status": cell.status,
        "findings": [{"rule": f.rule, "level": f.level, "message": f.message} for f in cell.findings],
        "exchanges": [_exchange(x) for x in exchanges],
    }
    if not cell.semantic_checks:
        out["semantic_off"] = True
    if cell.claim.claim != "unknown":
        out["claim"] = {"claim": cell.claim.claim, "source": cell.claim.source, "note": cell.claim.note or ""}
    extras = {"drift": cell.drift, "flaky": cell.flaky, "tries": cell.tries, "deprecated": "; ".join(cell.redirected)}
    out.update({k: v for k, v in extras.items() if v})
    if cell.attempts is not None:
        out["attempts"] = [a.model_dump(mode="json", exclude_unset=True) for a in cell.attempts]
    if change is not None:
        out["change"] = {"kind": change.kind, "old": change.old}
    return out


def _exchange(exchange: ExchangeRecord) -> dict[str, Any]:
    request = exchange.request
    out: dict[str, Any] = {
        "method": request.method,
        "url": request.url,
        "request_headers": _headers(request.headers),
        **_body("request_body", request.body, request.body_length),
        "status": exchange.status,
        "headers": _headers(exchange.headers),
        "elapsed_ms": ms(exchange.elapsed_ms),
        "first_byte_ms": ms(exchange.first_byte_ms),
    }
    if exchange.error is not None:
        out["error"] = exchange.error
    if exchange.events is not None:
        out["events"], note = _events(exchange.events)
        out.update({"events_note": note} if note else {})
    else:
        out.update(_body("body", exchange.body))
    return out


def _headers(headers: Mapping[str, str]) -> list[list[str]]:
    return [[k, _clip(v, HEADER_LIMIT)[0]] for k, v in headers.items()]


def _body(name: str, body: str | None, length: int | None = None) -> dict[str, str]:
    """The text as sent, clipped with a `<name>_note` when it is huge. The page lays JSON out when it shows
    it (matrix.js `laidOut`): indented here, it was half of the evidence files' CPU and a tenth of their size."""
    text = body or ""
    shown, note = _clip(text, BODY_LIMIT)
    if length is not None and length > len(text):
        note = f"truncated: showing the first {len(shown):,} of {length:,} characters (the cassette has all of them)"
    return {name: shown, f"{name}_note": note} if note else {name: shown}


def _clip(text: str, limit: int) -> tuple[str, str | None]:
    if len(text) <= limit:
        return text, None
    return text[:limit], f"truncated: showing the first {limit:,} of {len(text):,} characters"


def _events(events: list[EventRecord]) -> tuple[list[dict[str, Any]], str | None]:
    """The first events up to EVENT_LIMIT or BODY_LIMIT characters of data, whichever comes first."""
    shown: list[dict[str, Any]] = []
    budget, cut = BODY_LIMIT, False
    for event in events[:EVENT_LIMIT]:
        if budget <= 0:
            break
        data, note = _clip(event.data, budget)
        budget, cut = budget - len(data), cut or note is not None
        shown.append(
            {
                "offset_ms": ms(event.offset_ms),
                "event": event.event,
                "data": data,
                **{k: str(v) for k, v in (("id", event.id), ("retry", event.retry)) if v is not None},
            }
        )
    if len(shown) == len(events) and not cut:
        return shown, None
    last = ", the last one cut short" if cut else ""
    return shown, f"truncated: showing {len(shown):,} of {len(events):,} events{last}"


def packed(value: Any) -> str:
    """JSON, gzipped without a timestamp (the same evidence gives the same file) and in base64."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return base64.b64encode(gzip.compress(text.encode("utf-8"), compresslevel=6, mtime=0)).decode("ascii")


def script_json(value: Any) -> Markup:
    """JSON safe inside <script> and as a script file: nothing can close the element or end a line early."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for char, escaped in _SCRIPT_UNSAFE.items():
        text = text.replace(char, escaped)
    return Markup(text)
