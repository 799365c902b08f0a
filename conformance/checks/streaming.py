"""Checks on a streamed response: SSE framing, the event grammar, numbering, and text agreement.

The grammar is the family table of stream_model.py, walked once per stream and shared with the
tools and reasoning checks; ordering, numbering and text agreement are separate checks, each saying
"expected X, got Y" with the event's position so a reader can find it in the evidence. Every check
here judges every 2xx answer (`Scope.EVERY_OK`).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

from conformance.checks.core import output_text, reported_error
from conformance.checks.rules import Rule, quote, rule
from conformance.checks.stream_model import Item, Stream, stream_of
from conformance.checks.view import SENTINEL, TERMINAL_EVENTS, Ev, Scope, View, scoped
from conformance.evidence import Finding, Level
from conformance.schemas import event_problems, known_event_types, listed_fields

IS_SSE = rule("stream.is_sse", Level.MUST, "`stream: true` gives a text/event-stream of events", effect=True)
DATA_JSON = rule("stream.data_json", Level.MUST, "every event's data is a JSON object with a string `type`")
EVENT_FIELD = rule("stream.event_field", Level.SHOULD, "every event has an `event:` line")
EVENT_MATCHES = rule(
    "stream.event_matches_type",
    Level.SHOULD,
    "the `event:` name equals the payload's `type` (the SDKs read the type and pass over the name)",
)
EVENT_THREAD = rule(
    "stream.event_name_thread",
    Level.MUST,
    "no `event:` name starts with `thread.`: both SDKs then hand the user {event, data}, not the event",
)
EVENT_SCHEMA = rule(
    "stream.event_schema",
    Level.MUST,
    "each event has the fields the SDK types require for its type",
    home=("streaming",),
)
EVENT_FIELDS = rule("stream.event_fields", Level.SHOULD, "each event carries every field the SDK types list")
UNKNOWN_EVENT = rule(
    "stream.known_event_type",
    Level.MUST,
    "every event type is one the SDKs know: the Node SDK's stream accumulator raises on any other",
    home=("streaming",),
)
CREATED_FIRST = rule("stream.created_first", Level.MUST, "the first event is response.created")
IN_PROGRESS = rule("stream.in_progress_second", Level.SHOULD, "the second event is response.in_progress")
TERMINAL_LAST = rule(
    "stream.terminal_last", Level.MUST, "exactly one response.completed|failed|incomplete, and it comes last"
)
SEQ_PRESENT = rule("stream.sequence_number_present", Level.SHOULD, "every event has an integer sequence_number")
# Both SDKs read sequence_number only to skip the events before `starting_after` when a background Response's stream
# is resumed (openai-python's lib/streaming/responses, openai-node's ResponseStream); a create stream numbered 0, 0, 0
# or out of step reaches every client, the Agents SDK and LangChain whole, in the order its events came.
SEQ_INCREASING = rule(
    "stream.sequence_number_increasing",
    Level.SHOULD,
    "sequence_number strictly increases, as a stream resumed with `starting_after` needs",
)
GRAMMAR = rule(
    "stream.grammar",
    Level.MUST,
    "items open with output_item.added and close with output_item.done; parts likewise; deltas inside",
)
INDICES = rule(
    "stream.indices", Level.MUST, "output_index, content_index and item_id agree across events", home=("streaming",)
)
ITEM_LISTS = rule(
    "stream.item_lists",
    Level.MUST,
    "an item opened by output_item.added holds the list its streamed parts go into (a message's content, a "
    "reasoning item's summary): the SDKs' accumulators append to it",
    home=("streaming",),
)
DONE_EVENTS = rule(
    "stream.done_events",
    Level.SHOULD,
    "every run of deltas is closed by its done event before its part or item closes",
)
DONE_SENTINEL = rule(
    "stream.done_sentinel",
    Level.INFO,
    "a trailing `data: [DONE]` (the Chat Completions end marker) is not an event; the SDK skips it",
)
TEXT_CONCAT = rule("stream.text_concat", Level.MUST, "deltas concatenate to the done text and the final response")
FINAL_ITEMS = rule("stream.final_items", Level.MUST, "the final response's output holds the items streamed")
FINAL_ORDER = rule(
    "stream.final_order", Level.SHOULD, "the final response's output lists the streamed items in the order streamed"
)
INCREMENTAL = rule("stream.incremental", Level.SHOULD, "events arrive as they are produced, not all at once")
RESPONSE_ID = rule(
    "stream.response_id",
    Level.MUST,
    "every lifecycle event carries the Response under the id the first one gave it",
    home=("streaming",),
)
RESPONSE_OUTPUT = rule(
    "stream.response_output",
    Level.MUST,
    "every lifecycle event carries a Response with an output list, empty before any item",
    home=("streaming",),
)

TERMINAL = frozenset(TERMINAL_EVENTS)
# The events whose Response the official SDK's accumulator checks against the one response.created began.
LIFECYCLE = frozenset({"response.created", "response.queued", "response.in_progress", *TERMINAL_EVENTS})
# Event types the SDK's types do not list that the Node SDK's accumulator still takes (it skips them): its
# lib/responses/ResponseAccumulator.js. Any other unlisted type makes it raise "Unhandled response stream event".
NODE_SKIPS = frozenset({"keepalive"})
# An `event:` name the SDKs act on: under it they yield {"event": name, "data": payload} (Assistants streaming), so
# the Responses event is lost to the user (openai-python's _streaming.py, openai-node's core/streaming.js). Any other
# name, matching or not, they pass over.
THREAD_PREFIX = "thread."
# Runs whose missing done event a feature rule judges in its own column, so one gap is one finding:
# tools.stream_arguments_done and reasoning.stream_events.
OWNED = frozenset({"function_call_arguments", "reasoning_text"})


@scoped(Scope.EVERY_OK)
def is_sse(v: View) -> Iterator[Finding]:
    ex = v.exchange
    if not ex.is_stream or ex.content_type != "text/event-stream":
        yield IS_SSE.finding(f"expected content-type text/event-stream, got {quote(ex.content_type)}: {quote(ex.body)}")
    elif not v.events:
        yield IS_SSE.finding("expected events, got an empty event stream")


@scoped(Scope.EVERY_OK)
def framing(v: View) -> Iterator[Finding]:
    if not v.is_stream:
        return
    missing_name = [e for e in v.events if e.name is None]
    if missing_name:
        yield EVENT_FIELD.finding(
            f"{len(missing_name)} of {len(v.events)} events lack an `event:` line, first {missing_name[0].where()}"
        )
    for e in v.events:
        if e.type is None and e.data == "":
            yield DATA_JSON.finding(
                f"{e.where()}: expected a JSON object with a `type`, got an event with no data (a block of "
                "`event:`, `id:` or `retry:` lines only, or an empty `data:`); the SDKs parse '' as JSON and raise"
            )
        elif e.type is None:
            yield DATA_JSON.finding(f"{e.where()}: expected a JSON object with a `type`, got {quote(e.data)}")
        elif e.name is not None and e.name != e.type:
            yield EVENT_MATCHES.finding(f"{e.where()}: expected `event: {e.type}`, got `event: {e.name}`")
    threads = [e for e in v.events if e.name is not None and e.name.startswith(THREAD_PREFIX)]
    if threads:
        yield EVENT_THREAD.finding(
            f"{len(threads)} of {len(v.events)} events are named `thread.*`, first {threads[0].where()} "
            f"(`event: {threads[0].name}`): the SDKs read those as Assistants events and lose the Responses event"
        )
    if v.sentinel is not None:
        yield DONE_SENTINEL.finding(
            f"event #{v.sentinel.index}: `data: {SENTINEL}` after the last event; the official SDK stops reading there"
        )


@scoped(Scope.EVERY_OK)
def event_schemas(v: View) -> Iterator[Finding]:
    """One finding per event path and kind of problem, saying how many events share it."""
    if not v.is_stream:
        return
    known = known_event_types() | NODE_SKIPS
    unknown: dict[str, int] = {}
    required: dict[str, dict[str, list[int]]] = {}  # path -> missing field -> event indexes
    other: dict[str, list[int]] = {}
    missing: dict[str, set[str]] = {}
    for e in v.events:
        if e.type is None or e.payload is None:
            continue
        if e.type not in known:
            unknown.setdefault(e.type, e.index)
            continue
        for problem in event_problems(e.payload):
            if problem.kind == "missing":
                parent = problem.path.removesuffix(f".{problem.field}")
                required.setdefault(parent, {}).setdefault(problem.field, []).append(e.index)
            else:
                other.setdefault(str(problem), []).append(e.index)
        absent = listed_fields("event", e.type) - e.payload.keys()
        if absent:
            missing.setdefault(e.type, set()).update(absent)
    for path, fields in required.items():
        where = sorted({i for indexes in fields.values() for i in indexes})
        yield EVENT_SCHEMA.finding(f"{path} lacks required {', '.join(sorted(fields))} ({_where(where)})")
    for said, indexes in other.items():
        yield EVENT_SCHEMA.finding(f"{said} ({_where(indexes)})")
    for type_name, first_index in unknown.items():
        yield UNKNOWN_EVENT.finding(
            f"event #{first_index}: type {type_name!r} is not a Responses stream event; "
            "the Node SDK's stream accumulator raises on it"
        )
    for type_name, absent_fields in sorted(missing.items()):
        yield EVENT_FIELDS.finding(f"{type_name} events lack listed field(s): {', '.join(sorted(absent_fields))}")


def _where(indexes: list[int]) -> str:
    return f"event #{indexes[0]}" if len(indexes) == 1 else f"{len(indexes)} events, first #{indexes[0]}"


@scoped(Scope.EVERY_OK)
def event_order(v: View) -> Iterator[Finding]:
    typed = [e for e in v.events if e.type is not None]
    if not v.is_stream or not typed:
        return
    if typed[0].type != "response.created":
        yield CREATED_FIRST.finding(f"expected response.created first, got {typed[0].where()}")
    if len(typed) > 1 and typed[1].type != "response.in_progress":
        yield IN_PROGRESS.finding(f"expected response.in_progress second, got {typed[1].where()}")
    terminals = [e for e in typed if e.type in TERMINAL]
    if not terminals:
        said = reported_error(v.exchange)
        why = f": {said}" if said else ""
        yield TERMINAL_LAST.finding(
            f"expected a terminal event last, got {typed[-1].where()} and no terminal event{why}"
        )
    elif len(terminals) > 1:
        yield TERMINAL_LAST.finding(
            f"expected one terminal event, got {len(terminals)}: {', '.join(t.where() for t in terminals)}"
        )
    elif terminals[0] is not typed[-1]:
        yield TERMINAL_LAST.finding(f"expected {terminals[0].where()} last, got {typed[-1].where()} after it")


@scoped(Scope.EVERY_OK)
def one_response(v: View) -> Iterator[Finding]:
    """The SDKs' accumulators take each lifecycle event's Response as their snapshot: the Node SDK reads its
    `output` ("rsp.output is not iterable" without one), and the Python SDK raises "Lifecycle response identity
    changed" on an id that is not the one it began with. Either way the stream is lost to that client."""
    carried = [(e, r) for e in v.events if e.type in LIFECYCLE and isinstance(r := e.get("response"), dict)]
    if not v.is_stream or not carried:
        return
    without = [e for e, response in carried if not isinstance(response.get("output"), list)]
    if without:
        yield RESPONSE_OUTPUT.finding(
            f"expected the Response of every lifecycle event to hold an output list, "
            f"got none in {', '.join(e.where() for e in without[:3])}"
            + (f" and {len(without) - 3} more" if len(without) > 3 else "")
        )
    (first, began), *later = carried
    changed = next(((e, r) for e, r in later if r.get("id") != began.get("id")), None)
    if changed is not None:
        e, response = changed
        yield RESPONSE_ID.finding(
            f"{e.where()}: expected the Response id {quote(began.get('id'))} that {first.where()} gave, "
            f"got {quote(response.get('id'))}"
        )


@scoped(Scope.EVERY_OK)
def sequence_numbers(v: View) -> Iterator[Finding]:
    if not v.is_stream:
        return
    typed = [e for e in v.events if e.payload is not None]
    numbered = [(e, n) for e in typed if isinstance(n := e.get("sequence_number"), int)]
    if len(numbered) < len(typed):
        first = next(e for e in typed if not isinstance(e.get("sequence_number"), int))
        yield SEQ_PRESENT.finding(
            f"{len(typed) - len(numbered)} of {len(typed)} events lack an integer sequence_number, "
            f"first {first.where()} (got {quote(first.get('sequence_number'))})"
        )
    for (_, before), (after, number) in itertools.pairwise(numbered):
        if number <= before:
            yield SEQ_INCREASING.finding(f"{after.where()}: expected sequence_number > {before}, got {number}")
            break


@scoped(Scope.EVERY_OK)
def grammar(v: View) -> Iterator[Finding]:
    if not v.is_stream:
        return
    stream = stream_of(v)
    for rule_, complaints in (
        (GRAMMAR, stream.grammar),
        (INDICES, stream.indices),
        (ITEM_LISTS, stream.lists),
        (TEXT_CONCAT, stream.text),
    ):
        yield from _grouped(rule_, complaints)
    unclosed = [
        (e, f"{family.delta} not closed by {family.done} (index {quote(index)})")
        for e, family, index in stream.unclosed
        if family.name not in OWNED
    ]
    yield from _grouped(DONE_EVENTS, unclosed)


def _grouped(rule_: Rule, complaints: list[tuple[Ev, str]]) -> Iterator[Finding]:
    """One finding per (event type, complaint), counting the events that share it."""
    groups: dict[tuple[str | None, str], list[int]] = {}
    for e, message in complaints:
        groups.setdefault((e.type, message), []).append(e.index)
    for (type_name, message), where in groups.items():
        yield rule_.finding(f"{type_name}: {message} ({_where(where)})")


def streamed_text(stream: Stream) -> str:
    """The answer text a stream carried: each output_text run's done text, or its deltas where no done text came."""
    return _text(stream.in_order())


def _text(items: list[Item]) -> str:
    return "".join(text for item in items for text in item.texts("output_text"))


def _key(item: tuple[Any, Any]) -> str:
    """An (id, type) pair as a sortable key: a server's id may be any JSON value."""
    return repr(item)


@scoped(Scope.EVERY_OK)
def final_agrees(v: View) -> Iterator[Finding]:
    """The SDKs' final response is the terminal event's Response: an item streamed but missing there is lost to
    whoever reads it, while the same items in another order (mistral.rs lists function calls before the message
    it opened first) lose nothing, so the order alone is a SHOULD and the text is compared in the final order."""
    final = v.response
    if not v.is_stream or not isinstance(final, dict):
        return
    stream = stream_of(v)
    items = stream.in_order()
    output = final.get("output")
    streamed_items = [(i.item_id, i.type) for i in items]
    final_items = [
        (o.get("id"), o.get("type")) if isinstance(o, dict) else (None, None)
        for o in (output if isinstance(output, list) else [])
    ]
    reordered = streamed_items != final_items and sorted(map(_key, streamed_items)) == sorted(map(_key, final_items))
    if reordered:
        by_key: dict[str, list[Item]] = {}
        for item in items:
            by_key.setdefault(_key((item.item_id, item.type)), []).append(item)
        items = [by_key[_key(pair)].pop(0) for pair in final_items]
    streamed = _text(items)
    if stream.items and streamed != output_text(final):
        yield TEXT_CONCAT.finding(
            "expected the final response's text to equal the streamed text "
            f"{quote(streamed)}, got {quote(output_text(final))}"
        )
    if reordered:
        yield FINAL_ORDER.finding(
            f"expected output items (id, type) in the order streamed, {quote(streamed_items)}, got {quote(final_items)}"
        )
    elif streamed_items != final_items:
        yield FINAL_ITEMS.finding(f"expected output items (id, type) {quote(streamed_items)}, got {quote(final_items)}")


@scoped(Scope.EVERY_OK)
def incremental(v: View) -> Iterator[Finding]:
    events = v.events
    if v.is_stream and len(events) >= 4 and len({e.offset_ms for e in events}) == 1:
        yield INCREMENTAL.finding(
            f"all {len(events)} events arrived at once, at {events[0].offset_ms:.1f} ms: the stream was buffered"
        )


STREAM_CHECKS = (
    is_sse,
    framing,
    event_schemas,
    event_order,
    one_response,
    sequence_numbers,
    grammar,
    final_agrees,
    incremental,
)
