"""Fuzzing: whatever a server sends, the parser and the checks answer with findings, never a crash.

A crashed check becomes a `harness.check_crashed` finding, which turns a cell into ERROR and hides
what the server did wrong; so these tests fail on any such finding, and on any finding whose rule
is not declared in the registry.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance.checks import RULES, run_checks
from conformance.checks.core import RESPONSE_CHECKS, answer_mentions, echoes_instructions
from conformance.checks.errors import rejected_with
from conformance.checks.http import COMMON_CHECKS
from conformance.checks.streaming import STREAM_CHECKS
from conformance.evidence import Exchange, Finding
from conformance.schemas import known_event_types
from conformance.sse import SSEError, SSEParser, parse_events
from tests.exchanges import (
    conformant_response,
    conformant_stream,
    exchange,
    request,
    stream_exchange,
)

FUZZ = settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
ALL_CHECKS = (
    *COMMON_CHECKS,
    *STREAM_CHECKS,
    *RESPONSE_CHECKS,
    echoes_instructions,
    answer_mentions("hello"),
    rejected_with(400),
)
EVENT_TYPES = sorted(known_event_types())
# Keys the checks read; fuzzed objects draw from them often, so the checks' deeper paths get exercised.
KEYS = [
    "type",
    "response",
    "output",
    "item",
    "id",
    "item_id",
    "output_index",
    "content_index",
    "sequence_number",
    "delta",
    "text",
    "part",
    "content",
    "status",
    "usage",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "instructions",
    "error",
    "message",
    "arguments",
    "role",
]
STATUSES = st.sampled_from([200, 200, 200, 201, 400, 404, 422, 429, 500, 503])
CONTENT_TYPES = st.sampled_from(["application/json", "text/event-stream", "text/plain", "", "application/json; x=1"])

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12) | st.sampled_from(EVENT_TYPES)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), children, max_size=5)
    ),
    max_leaves=25,
)
typed_events = st.builds(
    lambda kind, rest: {**rest, "type": kind},
    st.sampled_from(EVENT_TYPES) | st.text(max_size=10),
    st.dictionaries(st.sampled_from(KEYS), json_values, max_size=6),
)
payloads = typed_events | json_values | st.text(max_size=20)
request_bodies = st.just(request()) | json_values.map(json.dumps) | st.text(max_size=20)


def assert_no_crash(findings: list[Finding]) -> None:
    crashes = [f.message for f in findings if f.rule == "harness.check_crashed"]
    assert not crashes, crashes
    assert {f.rule for f in findings} <= set(RULES)
    assert all(f.level is RULES[f.rule].level and isinstance(f.message, str) for f in findings)


def slots(value: Any) -> list[tuple[Any, Any]]:
    """Every (container, key-or-index) inside a JSON value, so a mutation can reach any depth."""
    found: list[tuple[Any, Any]] = []
    keys = value.keys() if isinstance(value, dict) else range(len(value)) if isinstance(value, list) else ()
    for key in keys:
        found.append((value, key))
        found.extend(slots(value[key]))
    return found


def drop(draw: st.DrawFn, events: list[Any]) -> None:
    if events:
        del events[draw(st.integers(0, len(events) - 1))]


def duplicate(draw: st.DrawFn, events: list[Any]) -> None:
    if events:
        i = draw(st.integers(0, len(events) - 1))
        events.insert(draw(st.integers(0, len(events))), copy.deepcopy(events[i]))


def swap(draw: st.DrawFn, events: list[Any]) -> None:
    if events:
        i, j = draw(st.integers(0, len(events) - 1)), draw(st.integers(0, len(events) - 1))
        events[i], events[j] = events[j], events[i]


def delete_key(draw: st.DrawFn, value: Any) -> None:
    keyed = [(container, key) for container, key in slots(value) if isinstance(container, dict)]
    if keyed:
        container, key = draw(st.sampled_from(keyed))
        del container[key]


def retype(draw: st.DrawFn, value: Any) -> None:
    """Replace a value anywhere with one of another JSON type."""
    found = slots(value)
    if found:
        container, key = draw(st.sampled_from(found))
        old = type(container[key])
        container[key] = draw(json_values.filter(lambda new: type(new) is not old))


Mutation = Callable[[st.DrawFn, Any], None]
STREAM_MUTATIONS: list[Mutation] = [drop, duplicate, swap, delete_key, retype]


@st.composite
def mutated(draw: st.DrawFn, value: Any, mutations: list[Mutation]) -> Any:
    value = copy.deepcopy(value)
    for _ in range(draw(st.integers(1, 4))):
        draw(st.sampled_from(mutations))(draw, value)
    return value


def stream_variants() -> st.SearchStrategy[list[Any]]:
    pieces = st.lists(st.text(max_size=5), min_size=1, max_size=3)
    return pieces.flatmap(lambda p: mutated(conformant_stream(p), STREAM_MUTATIONS)) | st.lists(payloads, max_size=12)


@st.composite
def streamed(draw: st.DrawFn) -> Exchange:
    events = draw(stream_variants())
    size = len(events)
    names = draw(st.booleans() | st.lists(st.none() | st.sampled_from(EVENT_TYPES), min_size=size, max_size=size))
    return stream_exchange(
        events,
        names=names,
        offsets=draw(st.lists(st.floats(0, 1e6), min_size=size, max_size=size)),
        status=draw(STATUSES),
        headers={"content-type": draw(CONTENT_TYPES)},
        request_body=draw(request_bodies),
    )


bodies = mutated(conformant_response(), [delete_key, retype]) | json_values | st.text(max_size=30)


@st.composite
def answered(draw: st.DrawFn) -> Exchange:
    body = draw(bodies)
    text = body if isinstance(body, str) and draw(st.booleans()) else json.dumps(body)
    headers = {"content-type": draw(CONTENT_TYPES)}
    return exchange(status=draw(STATUSES), headers=headers, body=text, request_body=draw(request_bodies))


@FUZZ
@given(st.lists(streamed(), min_size=1, max_size=2))
def test_no_check_crashes_on_any_stream(exchanges: list[Exchange]) -> None:
    assert_no_crash(run_checks(ALL_CHECKS, exchanges))


@FUZZ
@given(st.lists(answered(), min_size=1, max_size=2))
def test_no_check_crashes_on_any_json_answer(exchanges: list[Exchange]) -> None:
    assert_no_crash(run_checks(ALL_CHECKS, exchanges))


# Bytes the parser treats specially: field names, separators, line breaks, a BOM, broken UTF-8, NUL.
SSE_TOKENS = [
    b"data:",
    b"event:",
    b"id:",
    b"retry:",
    b" ",
    b":",
    b"\r",
    b"\n",
    b"\r\n",
    b"\xef\xbb\xbf",
    b"\xff",
    b"\xc3",
    b"\xa9",
    b"\x00",
    b"a",
    b"7",
    b"{}",
]
wire = st.binary(max_size=200) | st.lists(st.sampled_from(SSE_TOKENS), max_size=60).map(b"".join)


@st.composite
def chunked(draw: st.DrawFn) -> tuple[bytes, list[bytes]]:
    """A byte stream and the same bytes cut at arbitrary places (empty chunks included)."""
    data = draw(wire)
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=8)))
    bounds = [0, *cuts, len(data)]
    return data, [data[a:b] for a, b in itertools.pairwise(bounds)]


def fields(events: list[Any]) -> list[tuple[Any, ...]]:
    return [(e.data, e.event, e.id, e.retry) for e in events]


@FUZZ
@given(chunked())
def test_sse_parser_never_raises_and_chunking_never_changes_the_events(stream: tuple[bytes, list[bytes]]) -> None:
    data, chunks = stream
    whole, whole_pending = parse_events([(0.0, data)])
    split, split_pending = parse_events([(float(i), c) for i, c in enumerate(chunks)])
    assert fields(split) == fields(whole)
    assert split_pending == whole_pending
    for event in split:
        assert not {"\r", "\n"} & set((event.event or "") + (event.id or ""))
        assert "\r" not in event.data


def longest_line(data: bytes) -> int:
    text = data.decode("utf-8", errors="replace").removeprefix("\ufeff")
    return max(len(line) for line in re.split(r"\r\n|\r|\n", text))


@FUZZ
@given(chunked())
def test_sse_parser_raises_only_for_a_line_over_the_cap(stream: tuple[bytes, list[bytes]]) -> None:
    data, chunks = stream
    parser = SSEParser(max_line=16)
    try:
        for chunk in chunks:
            parser.feed(chunk)
        parser.close()
    except SSEError:
        assert longest_line(data) > 16
