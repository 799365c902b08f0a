"""State checks: what `store` says, and whether a stored response can be read back as it was made."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from conformance.checks.core import _ok, output_text, response_body
from conformance.checks.reasoning import output_items
from conformance.checks.rules import quote, rule
from conformance.evidence import Exchange, Finding, Level

STORE_ECHO = rule(
    "state.store_echo", Level.MUST, "where the Response echoes `store`, it is the value sent", effect=True
)
RETRIEVE = rule(
    "state.retrieve", Level.MUST, "GET /responses/{id} returns the stored Response: same id, status, items and text"
)


def store_echoed(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    for ex in _ok(exchanges):
        sent, body = ex.request_json(), response_body(ex)
        wanted = sent.get("store") if isinstance(sent, dict) else None
        if isinstance(wanted, bool) and isinstance(body, dict) and "store" in body and body["store"] is not wanted:
            yield STORE_ECHO.finding(f"expected store {wanted} (as sent), got {quote(body['store'])}")


def _summary(body: Any) -> dict[str, Any]:
    """What must survive a round trip through storage."""
    fields = body if isinstance(body, dict) else {}
    return {
        "id": fields.get("id"),
        "status": fields.get("status"),
        "items": [(item.get("id"), item.get("type")) for item in output_items(body)],
        "text": output_text(body),
    }


def retrieved_same(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    """The first exchange creates; the last GET must return the same Response."""
    ok = _ok(exchanges)
    if not ok:
        return
    created = _summary(response_body(ok[0]))
    if not isinstance(created["id"], str) or not created["id"]:
        yield RETRIEVE.finding(f"expected the created response to have an id to GET, got {quote(created['id'])}")
        return
    gets = [ex for ex in ok[1:] if ex.method == "GET"]
    if not gets:
        return
    got = _summary(gets[-1].json_or_none())
    for key, value in created.items():
        if got[key] != value:
            yield RETRIEVE.finding(f"expected the retrieved {key} {quote(value)}, got {quote(got[key])}")
