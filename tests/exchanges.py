"""Hand-made fault fixtures for the checks' own tests: builders of exchanges, not recordings.

Nothing here came from a server. Each builder makes the smallest exchange a test needs, and
`conformant_response` / `conformant_stream` give the baseline every fault is a mutation of. Their
field lists come from the installed `openai` SDK, so a field the SDK adds shows up here too.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from openai.types.responses import Response

from conformance.evidence import Exchange, SSEEvent

MODEL = "test-model"
URL = "http://conformance.invalid/v1/responses"
RESPONSE_ID = "resp_test"
ITEM_ID = "msg_test"
CREATED_AT = 1_700_000_000
JSON = {"content-type": "application/json"}
EVENT_STREAM = {"content-type": "text/event-stream; charset=utf-8"}
# The least a results.jsonl line holds: a reader refuses a line without these.
RESULT_LINE = {
    "provider": "p",
    "model": MODEL,
    "feature": "core",
    "probe": "core.text_input",
    "status": "PASS",
    "findings": [],
}


def request(stream: bool = False, **extra: Any) -> str:
    """The request body a probe would have sent."""
    return json.dumps({"model": MODEL, "input": "Say hello.", **({"stream": True} if stream else {}), **extra})


def exchange(
    *,
    status: int | None = 200,
    headers: dict[str, str] | None = None,
    body: str = "",
    events: Sequence[SSEEvent] | None = None,
    request_body: str | None = None,
    error: str | None = None,
) -> Exchange:
    """Any exchange; the other builders are shorthands for this one."""
    return Exchange(
        method="POST",
        url=URL,
        request_headers={"content-type": "application/json"},
        request_body=request(events is not None) if request_body is None else request_body,
        status=status,
        headers=dict(JSON if headers is None else headers),
        body=body,
        events=None if events is None else tuple(events),
        error=error,
    )


def json_exchange(
    body: Any, status: int = 200, headers: dict[str, str] | None = None, request_body: str | None = None
) -> Exchange:
    """A non-streamed answer whose body is `body` serialised as JSON."""
    return exchange(status=status, headers=headers, body=json.dumps(body), request_body=request_body)


def raw_exchange(text: str, status: int = 200, content_type: str = "text/plain") -> Exchange:
    """A non-streamed answer whose body is `text` as it is (not JSON, or not what was asked for)."""
    return exchange(status=status, headers={"content-type": content_type}, body=text)


def error_exchange(status: int = 400, error: dict[str, Any] | None = None) -> Exchange:
    """A rejection with a proper OpenAI error object unless `error` replaces it."""
    default = {
        "message": "Missing required parameter: 'input'.",
        "type": "invalid_request_error",
        "param": "input",
        "code": None,
    }
    return json_exchange({"error": default if error is None else error}, status=status)


def retried(ex: Exchange, *statuses: int | None) -> Exchange:
    """`ex` as the last of several tries, the earlier ones answered `statuses` (None: no answer came)."""
    earlier = tuple({"status": s, "wait_s": 0.5, "basis": "backoff"} for s in statuses)
    return replace(ex, attempts=earlier)


def transport_error(message: str = "ReadTimeout: timed out") -> Exchange:
    return exchange(status=None, headers={}, error=message)


def stream_exchange(
    events: Sequence[Any],
    *,
    names: bool | Sequence[str | None] = True,
    offsets: Sequence[float] | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
    request_body: str | None = None,
) -> Exchange:
    """A streamed answer. A str payload is sent as raw data; anything else as JSON.

    `names=True` names each event after its payload's type, `False` sends no `event:` lines, and a
    list gives each name. Offsets default to 10 ms apart, so the stream looks incremental.
    """
    if isinstance(names, bool):
        names = [_type_of(p) if names else None for p in events]
    offsets = [10.0 * (i + 1) for i in range(len(events))] if offsets is None else offsets
    sse = [
        SSEEvent(data=p if isinstance(p, str) else json.dumps(p), event=name, offset_ms=offset)
        for p, name, offset in zip(events, names, offsets, strict=True)
    ]
    headers = EVENT_STREAM if headers is None else headers
    return exchange(status=status, headers=headers, events=sse, request_body=request_body)


def _type_of(payload: Any) -> str | None:
    kind = payload.get("type") if isinstance(payload, dict) else None
    return kind if isinstance(kind, str) else None


def output_text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def message_item(text: str | None, status: str = "completed") -> dict[str, Any]:
    """An assistant message; `text=None` gives the empty item that output_item.added opens."""
    content = [] if text is None else [output_text_part(text)]
    return {"id": ITEM_ID, "type": "message", "role": "assistant", "status": status, "content": content, "phase": None}


def conformant_response(text: str = "Hello.") -> dict[str, Any]:
    """A completed Response with every field the SDK lists: realistic values where we have them, else null."""
    output_tokens = max(1, len(text.split()))
    realistic: dict[str, Any] = {
        "id": RESPONSE_ID,
        "object": "response",
        "created_at": CREATED_AT,
        "completed_at": CREATED_AT + 1,
        "model": MODEL,
        "status": "completed",
        "output": [message_item(text)],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "metadata": {},
        "temperature": 1.0,
        "top_p": 1.0,
        "top_logprobs": 0,
        "background": False,
        "service_tier": "default",
        "truncation": "disabled",
        "text": {"format": {"type": "text"}},
        "usage": {
            "input_tokens": 9,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0, "cache_write_tokens_details": None},
            "output_tokens": output_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 9 + output_tokens,
        },
    }
    return {name: realistic.get(name) for name in Response.model_fields}


def in_progress_response() -> dict[str, Any]:
    """The Response as response.created and response.in_progress carry it: nothing produced yet."""
    return {**conformant_response(), "status": "in_progress", "output": [], "usage": None, "completed_at": None}


def conformant_stream(text_pieces: Sequence[str] = ("Hel", "lo.")) -> list[dict[str, Any]]:
    """The full event sequence OpenAI sends for one text message, numbered from 0."""
    text = "".join(text_pieces)
    where = {"item_id": ITEM_ID, "output_index": 0, "content_index": 0}
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": in_progress_response()},
        {"type": "response.in_progress", "response": in_progress_response()},
        {"type": "response.output_item.added", "output_index": 0, "item": message_item(None, "in_progress")},
        {"type": "response.content_part.added", **where, "part": output_text_part("")},
        *({"type": "response.output_text.delta", **where, "delta": piece, "logprobs": []} for piece in text_pieces),
        {"type": "response.output_text.done", **where, "text": text, "logprobs": []},
        {"type": "response.content_part.done", **where, "part": output_text_part(text)},
        {"type": "response.output_item.done", "output_index": 0, "item": message_item(text)},
        {"type": "response.completed", "response": conformant_response(text)},
    ]
    return [{**event, "sequence_number": i} for i, event in enumerate(events)]
