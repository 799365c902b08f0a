"""Identifiers clients key on: the prefixes of ids, and one model id across a stream.

OpenAI's ids carry their object's kind (`resp_`, `msg_`, `fc_`, `rs_`, ...), and clients and logs
rely on it to tell a response id from an item id (a previous_response_id filled with a message id
is a classic bug). Nothing breaks in the SDK without them, so these are SHOULDs. Each probe group
judges the ids of the objects it owns: core and streaming the Response and its messages, tools the
function calls, reasoning the reasoning items, so one unprefixed id is one finding in its own column.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from conformance.checks.core import _ok, response_body
from conformance.checks.rules import quote, rule
from conformance.evidence import Exchange, Finding, Level

ID_PREFIX = rule(
    "ids.prefix",
    Level.SHOULD,
    "ids carry their kind's prefix: resp_ for a Response, msg_, fc_, rs_, ctc_, ws_ for its items",
)
ONE_MODEL = rule(
    "stream.one_model",
    Level.SHOULD,
    "every event of a stream that carries the Response names the same model as the final Response",
)

RESPONSE = "response"
PREFIXES = {
    RESPONSE: "resp_",
    "message": "msg_",
    "function_call": "fc_",
    "reasoning": "rs_",
    "custom_tool_call": "ctc_",
    "web_search_call": "ws_",
}


def id_prefixes(*kinds: str) -> Callable[[Sequence[Exchange]], Iterator[Finding]]:
    """The ids of `kinds` ("response" or output item types) in every successful answer carry their prefix."""
    for kind in kinds:
        if kind not in PREFIXES:
            raise ValueError(f"no known id prefix for {kind!r}")

    def check(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
        ok = _ok(exchanges)
        for turn, ex in enumerate(ok, 1):
            where = f"turn {turn}: " if len(ok) > 1 else ""
            for path, kind, value in _ids(response_body(ex)):
                if kind in kinds and not (isinstance(value, str) and value.startswith(PREFIXES[kind])):
                    yield ID_PREFIX.finding(
                        f"{where}{path}: expected an id starting {PREFIXES[kind]!r}, got {quote(value)}"
                    )

    check.__name__ = "id_prefixes_" + "_".join(kinds)
    return check


def _ids(body: Any) -> Iterator[tuple[str, str, Any]]:
    """(path, kind, id) of the Response and of each output item."""
    if not isinstance(body, dict):
        return
    yield "response.id", RESPONSE, body.get("id")
    output = body.get("output")
    for index, item in enumerate(output if isinstance(output, list) else []):
        if isinstance(item, dict) and isinstance(item.get("type"), str):
            yield f"response.output[{index}].id", item["type"], item.get("id")


def one_model(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    for ex in _ok(exchanges):
        final = response_body(ex)
        if not ex.is_stream or not isinstance(final, dict):
            continue
        expected = final.get("model")
        for index, event in enumerate(ex.events or ()):
            try:
                payload = event.json()
            except ValueError:
                continue
            carried = payload.get("response") if isinstance(payload, dict) else None
            if isinstance(carried, dict) and carried.get("model") != expected:
                yield ONE_MODEL.finding(
                    f"event #{index} {payload.get('type')}: expected model {quote(expected)} as in the final "
                    f"Response, got {quote(carried.get('model'))}"
                )
                break
