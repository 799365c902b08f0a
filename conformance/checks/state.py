"""State checks: what `store` says, whether a stored response reads back as it was made, and whether
`previous_response_id` put the earlier turn into the prompt.

Effects are read on the wire before meaning: a chained turn's usage.input_tokens must exceed those
of the very same turn sent without `previous_response_id` (the probe sends both), so a server that
drops the history fails even when semantic checks are off, and one that keeps it passes even when
its model is too weak to answer from it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from conformance.checks.core import _ok, answer_mentions, output_text, response_body
from conformance.checks.reasoning import output_items
from conformance.checks.rules import quote, rule
from conformance.evidence import Exchange, Finding, Level

STORE_ECHO = rule(
    "state.store_echo", Level.MUST, "where the Response echoes `store`, it is the value sent", effect=True
)
RETRIEVE = rule(
    "state.retrieve", Level.MUST, "GET /responses/{id} returns the stored Response: same id, status, items and text"
)
HISTORY = rule(
    "state.history",
    Level.MUST,
    "with previous_response_id, input_tokens exceed those of the same turn sent alone: the earlier turn was read",
    effect=True,
)
HISTORY_UNSEEN = rule(
    "state.history_measured",
    Level.SHOULD,
    "the chained and the lone turn both report a positive usage.input_tokens, so the history can be seen on the wire",
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
    """The first exchange creates; the last GET must return the same Response, item for item."""
    ok = _ok(exchanges)
    if not ok:
        return
    created_body = response_body(ok[0])
    created = _summary(created_body)
    if not isinstance(created["id"], str) or not created["id"]:
        yield RETRIEVE.finding(f"expected the created response to have an id to GET, got {quote(created['id'])}")
        return
    gets = [ex for ex in ok[1:] if ex.method == "GET"]
    if not gets:
        return
    got_body = gets[-1].json_or_none()
    got = _summary(got_body)
    for key, value in created.items():
        if got[key] != value:
            yield RETRIEVE.finding(f"expected the retrieved {key} {quote(value)}, got {quote(got[key])}")
    if got["items"] == created["items"]:
        yield from _same_items(output_items(created_body), output_items(got_body))


def _same_items(made: list[dict[str, Any]], read: list[dict[str, Any]]) -> Iterator[Finding]:
    """Items with the same ids and types must also hold the same content, field by field."""
    for index, (a, b) in enumerate(zip(made, read, strict=False)):
        differ = sorted(k for k in a.keys() | b.keys() if _content(a.get(k)) != _content(b.get(k)))
        if differ:
            key = differ[0]
            yield RETRIEVE.finding(
                f"expected the retrieved output[{index}] to equal the created one, it differs in {', '.join(differ)}: "
                f"{key} {quote(a.get(key))} was created, {quote(b.get(key))} retrieved"
            )


def _content(value: Any) -> Any:
    """What a value holds, its nulls, empty lists and empty objects aside: a store that writes its Responses
    back without nulls, or a field's empty list as null (`logprobs: []` created, `null` or nothing
    retrieved), changed no content a client reads."""
    if isinstance(value, dict):
        kept = {k: _content(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v is not None} or None
    if isinstance(value, list):
        return [_content(v) for v in value] or None
    return value


def _input_tokens(ex: Exchange) -> Any:
    body = response_body(ex)
    usage = body.get("usage") if isinstance(body, dict) else None
    return usage.get("input_tokens") if isinstance(usage, dict) else None


def _measured(tokens: Any) -> bool:
    """A count the history can be read from: a prompt has tokens, so 0 (vLLM 0.10's usage zeros) measured none."""
    return isinstance(tokens, int) and not isinstance(tokens, bool) and tokens > 0


def _sent(ex: Exchange) -> dict[str, Any]:
    body = ex.request_json()
    return body if isinstance(body, dict) else {}


def _chained(exchanges: Sequence[Exchange]) -> Exchange | None:
    """The answered turn sent with previous_response_id."""
    return next((ex for ex in _ok(exchanges) if "previous_response_id" in _sent(ex)), None)


def chained_answer_mentions(word: str) -> Callable[[Sequence[Exchange]], Iterator[Finding]]:
    """A semantic check on the chained turn's answer, wherever it comes among the exchanges."""
    mentions = answer_mentions(word)

    def check(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
        chained = _chained(exchanges)
        if chained is not None:
            yield from mentions([chained])

    check.__name__ = f"chained_answer_mentions_{word.lower()}"
    return check


def history_counted(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    """The chained turn (sent with previous_response_id) against the same input sent alone."""
    ok = [ex for ex in _ok(exchanges) if ex.method == "POST"]
    chained = _chained(ok)
    if chained is None:
        if ok and not any("previous_response_id" in _sent(ex) for ex in exchanges):
            body = ok[0].json_or_none()  # as the probe reads it: a Response object, not a stream of one
            rid = body.get("id") if isinstance(body, dict) else None
            yield HISTORY.finding(
                f"expected the first turn's response to have an id to chain to, got {quote(rid)}: "
                "no turn could be sent with previous_response_id"
            )
        return
    asked = _sent(chained).get("input")
    alone = next((ex for ex in ok if "previous_response_id" not in _sent(ex) and _sent(ex).get("input") == asked), None)
    if alone is None:
        return
    with_history, without = _input_tokens(chained), _input_tokens(alone)
    if not (_measured(with_history) and _measured(without)):
        yield HISTORY_UNSEEN.finding(
            f"expected a positive integer usage.input_tokens on both turns, got {quote(with_history)} with "
            f"previous_response_id and {quote(without)} without: the history cannot be seen on the wire"
        )
        return
    if with_history <= without:
        echo = response_body(chained).get("previous_response_id") if isinstance(response_body(chained), dict) else None
        yield HISTORY.finding(
            f"expected input_tokens above {without} (the same turn sent alone) with previous_response_id "
            f"{quote(_sent(chained)['previous_response_id'])}, got {with_history}: the earlier turn was not in the "
            f"prompt (previous_response_id echoed as {quote(echo)})"
        )
