"""Checks on a streamed response: SSE framing, the event grammar, numbering, and text agreement.

The grammar is a table (which event opens and which closes each scope) driven by a small state
machine; ordering, numbering and text agreement are separate checks, each saying "expected X, got Y"
with the event's position so a reader can find it in the evidence.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from conformance.checks.core import TERMINAL_EVENTS, output_text, response_body
from conformance.checks.rules import Rule, quote, rule
from conformance.evidence import Exchange, Finding, Level
from conformance.schemas import event_problems, known_event_types, listed_fields

IS_SSE = rule("stream.is_sse", Level.MUST, "`stream: true` gives a text/event-stream of events", effect=True)
DATA_JSON = rule("stream.data_json", Level.MUST, "every event's data is a JSON object with a string `type`")
EVENT_FIELD = rule("stream.event_field", Level.SHOULD, "every event has an `event:` line")
EVENT_MATCHES = rule("stream.event_matches_type", Level.MUST, "the `event:` name equals the payload's `type`")
EVENT_SCHEMA = rule(
    "stream.event_schema",
    Level.MUST,
    "each event has the fields the SDK types require for its type",
    home=("streaming",),
)
EVENT_FIELDS = rule("stream.event_fields", Level.SHOULD, "each event carries every field the SDK types list")
UNKNOWN_EVENT = rule("stream.known_event_type", Level.SHOULD, "every event type is one the SDK knows")
CREATED_FIRST = rule("stream.created_first", Level.MUST, "the first event is response.created")
IN_PROGRESS = rule("stream.in_progress_second", Level.SHOULD, "the second event is response.in_progress")
TERMINAL_LAST = rule(
    "stream.terminal_last", Level.MUST, "exactly one response.completed|failed|incomplete, and it comes last"
)
SEQ_PRESENT = rule("stream.sequence_number_present", Level.SHOULD, "every event has an integer sequence_number")
SEQ_INCREASING = rule("stream.sequence_number_increasing", Level.MUST, "sequence_number strictly increases")
GRAMMAR = rule(
    "stream.grammar",
    Level.MUST,
    "items open with output_item.added and close with output_item.done; parts likewise; deltas inside",
)
INDICES = rule(
    "stream.indices", Level.MUST, "output_index, content_index and item_id agree across events", home=("streaming",)
)
TEXT_CONCAT = rule("stream.text_concat", Level.MUST, "deltas concatenate to the done text and the final response")
FINAL_ITEMS = rule("stream.final_items", Level.MUST, "the final response's output equals the items streamed")
INCREMENTAL = rule("stream.incremental", Level.SHOULD, "events arrive as they are produced, not all at once")

TERMINAL = frozenset(TERMINAL_EVENTS)
# delta event -> its done event; both live inside one content part (or item, for arguments)
DELTA_DONE = {
    "response.output_text.delta": "response.output_text.done",
    "response.refusal.delta": "response.refusal.done",
    "response.reasoning_text.delta": "response.reasoning_text.done",
    "response.reasoning_summary_text.delta": "response.reasoning_summary_text.done",
    "response.function_call_arguments.delta": "response.function_call_arguments.done",
}
DONE_DELTA = {done: delta for delta, done in DELTA_DONE.items()}
PART_SCOPED = {
    "response.output_text.delta",
    "response.output_text.done",
    "response.refusal.delta",
    "response.refusal.done",
}


@dataclass(frozen=True)
class Ev:
    """One event with its position in the stream and its parsed payload (None when not a JSON object)."""

    index: int
    name: str | None
    payload: dict[str, Any] | None
    offset_ms: float

    @property
    def type(self) -> str | None:
        t = self.payload.get("type") if self.payload else None
        return t if isinstance(t, str) else None

    def where(self) -> str:
        return f"event #{self.index} {self.type or self.name or '?'}"


def _events(ex: Exchange) -> list[Ev]:
    out = []
    for i, event in enumerate(ex.events or ()):
        try:
            payload = event.json()
        except ValueError:
            payload = None
        out.append(Ev(i, event.event, payload if isinstance(payload, dict) else None, event.offset_ms))
    return out


def _streams(exchanges: Sequence[Exchange]) -> Iterator[tuple[Exchange, list[Ev]]]:
    for ex in exchanges:
        if ex.status is not None and 200 <= ex.status < 300 and ex.is_stream:
            yield ex, _events(ex)


def is_sse(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    for ex in exchanges:
        if ex.status is None or not 200 <= ex.status < 300:
            continue
        if not ex.is_stream or ex.content_type != "text/event-stream":
            yield IS_SSE.finding(
                f"expected content-type text/event-stream, got {quote(ex.content_type)}: {quote(ex.body)}"
            )
        elif not ex.events:
            yield IS_SSE.finding("expected events, got an empty event stream")


def framing(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    for ex, events in _streams(exchanges):
        missing_name = [e for e in events if e.name is None]
        if missing_name:
            yield EVENT_FIELD.finding(
                f"{len(missing_name)} of {len(events)} events lack an `event:` line, first {missing_name[0].where()}"
            )
        for e in events:
            if e.type is None:
                yield DATA_JSON.finding(
                    f"{e.where()}: expected a JSON object with a `type`, got {quote(ex.events[e.index].data)}"
                )
            elif e.name is not None and e.name != e.type:
                yield EVENT_MATCHES.finding(f"{e.where()}: expected `event: {e.type}`, got `event: {e.name}`")


def event_schemas(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    """One finding per event path and kind of problem, saying how many events share it."""
    known = known_event_types()
    for _, events in _streams(exchanges):
        unknown: dict[str, int] = {}
        required: dict[str, dict[str, list[int]]] = {}  # path -> missing field -> event indexes
        other: dict[str, list[int]] = {}
        missing: dict[str, set[str]] = {}
        for e in events:
            if e.type is None or e.payload is None:
                continue
            if e.type not in known:
                unknown.setdefault(e.type, e.index)
                continue
            for problem in event_problems(e.payload):
                name = _required_field(problem.message)
                if name is None:
                    other.setdefault(str(problem), []).append(e.index)
                else:
                    required.setdefault(problem.path, {}).setdefault(name, []).append(e.index)
            absent = listed_fields("event", e.type) - e.payload.keys()
            if absent:
                missing.setdefault(e.type, set()).update(absent)
        for path, fields in required.items():
            where = sorted({i for indexes in fields.values() for i in indexes})
            yield EVENT_SCHEMA.finding(f"{path} lacks required {', '.join(sorted(fields))} ({_where(where)})")
        for problem, where in other.items():
            yield EVENT_SCHEMA.finding(f"{problem} ({_where(where)})")
        for type_name, first_index in unknown.items():
            yield UNKNOWN_EVENT.finding(f"event #{first_index}: type {type_name!r} is not a Responses stream event")
        for type_name, absent in sorted(missing.items()):
            yield EVENT_FIELDS.finding(f"{type_name} events lack listed field(s): {', '.join(sorted(absent))}")


def _required_field(message: str) -> str | None:
    """The field name of jsonschema's "'x' is a required property", else None."""
    suffix = " is a required property"
    if message.endswith(suffix) and message.startswith("'"):
        return message[1 : -len(suffix) - 1]
    return None


def _where(indexes: list[int]) -> str:
    return f"event #{indexes[0]}" if len(indexes) == 1 else f"{len(indexes)} events, first #{indexes[0]}"


def event_order(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    for _, events in _streams(exchanges):
        typed = [e for e in events if e.type is not None]
        if not typed:
            continue
        if typed[0].type != "response.created":
            yield CREATED_FIRST.finding(f"expected response.created first, got {typed[0].where()}")
        if len(typed) > 1 and typed[1].type != "response.in_progress":
            yield IN_PROGRESS.finding(f"expected response.in_progress second, got {typed[1].where()}")
        terminals = [e for e in typed if e.type in TERMINAL]
        if not terminals:
            yield TERMINAL_LAST.finding(
                f"expected a terminal event last, got {typed[-1].where()} and no terminal event"
            )
        elif len(terminals) > 1:
            yield TERMINAL_LAST.finding(
                f"expected one terminal event, got {len(terminals)}: {', '.join(t.where() for t in terminals)}"
            )
        elif terminals[0] is not typed[-1]:
            yield TERMINAL_LAST.finding(f"expected {terminals[0].where()} last, got {typed[-1].where()} after it")


def sequence_numbers(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    for _, events in _streams(exchanges):
        typed = [e for e in events if e.payload is not None]
        numbered = [e for e in typed if isinstance(e.payload.get("sequence_number"), int)]
        if len(numbered) < len(typed):
            first = next(e for e in typed if not isinstance(e.payload.get("sequence_number"), int))
            yield SEQ_PRESENT.finding(
                f"{len(typed) - len(numbered)} of {len(typed)} events lack an integer sequence_number, "
                f"first {first.where()} (got {quote(first.payload.get('sequence_number'))})"
            )
        for before, after in itertools.pairwise(numbered):
            if after.payload["sequence_number"] <= before.payload["sequence_number"]:
                yield SEQ_INCREASING.finding(
                    f"{after.where()}: expected sequence_number > {before.payload['sequence_number']}, "
                    f"got {after.payload['sequence_number']}"
                )
                break


@dataclass
class _Item:
    output_index: int
    item_id: Any
    type: Any
    done: bool = False
    parts: dict[int, bool] = field(default_factory=dict)  # content_index -> closed
    deltas: dict[tuple[str, int | None], list[str]] = field(default_factory=dict)  # keyed by delta type
    done_text: dict[tuple[str, int | None], str] = field(default_factory=dict)


@dataclass
class _Grammar:
    """State of one stream's items and parts as events open and close them."""

    items: dict[int, _Item] = field(default_factory=dict)
    grammar: list[tuple[Ev, str]] = field(default_factory=list)
    indices: list[tuple[Ev, str]] = field(default_factory=list)
    text: list[tuple[Ev, str]] = field(default_factory=list)

    def item_for(self, e: Ev) -> _Item | None:
        """The open item an event belongs to: by output_index, or by item_id when the index is missing."""
        index = e.payload.get("output_index")
        if isinstance(index, int):
            item = self.items.get(index)
        else:
            self.indices.append((e, f"expected an integer output_index, got {quote(index)}"))
            item = next((i for i in self.items.values() if i.item_id == e.payload.get("item_id", i.item_id)), None)
        if item is None:
            self.grammar.append((e, f"output_index {quote(index)} was not opened by output_item.added"))
            return None
        if item.done:
            self.grammar.append((e, f"output_index {item.output_index} was already closed by output_item.done"))
        if "item_id" in e.payload and e.payload["item_id"] != item.item_id:
            self.indices.append(
                (
                    e,
                    f"expected item_id {quote(item.item_id)} (output_index {item.output_index}), "
                    f"got {quote(e.payload['item_id'])}",
                )
            )
        return item

    def feed(self, e: Ev) -> None:
        t = e.type
        if t == "response.output_item.added":
            self.open_item(e)
        elif t == "response.output_item.done":
            item = self.item_for(e)
            if item is not None:
                open_parts = [i for i, closed in item.parts.items() if not closed]
                if open_parts:
                    self.grammar.append((e, f"content part(s) {open_parts} still open"))
                item.done = True
        elif t in ("response.content_part.added", "response.content_part.done"):
            item = self.item_for(e)
            if item is None:
                return
            index = self.content_index(e, item, opening=t.endswith("added"))
            if t.endswith("added"):
                if index in item.parts:
                    self.grammar.append((e, f"content_index {index} opened twice"))
                item.parts[index] = False
            elif index not in item.parts:
                self.grammar.append((e, f"content_index {index} closed but never opened"))
            else:
                item.parts[index] = True
                self.compare_part_text(e, item, index)
        elif t in DELTA_DONE or t in DONE_DELTA:
            self.delta_or_done(e)

    def content_index(self, e: Ev, item: _Item, opening: bool) -> int:
        """The event's content_index; when missing, the next part (opening) or the last opened one."""
        index = e.payload.get("content_index")
        if isinstance(index, int):
            return index
        self.indices.append((e, f"expected an integer content_index, got {quote(index)}"))
        return len(item.parts) if opening else max(item.parts, default=0)

    def open_item(self, e: Ev) -> None:
        index, item = e.payload.get("output_index"), e.payload.get("item")
        if not isinstance(item, dict):
            self.grammar.append((e, f"expected an item object, got {quote(item)}"))
            return
        if not isinstance(index, int):
            self.indices.append((e, f"expected an integer output_index, got {quote(index)}"))
            index = len(self.items)
        if index in self.items:
            self.grammar.append((e, f"output_index {index} opened twice"))
        elif index != len(self.items):
            self.indices.append((e, f"expected output_index {len(self.items)}, got {index}"))
        self.items[index] = _Item(index, item.get("id"), item.get("type"))

    def delta_or_done(self, e: Ev) -> None:
        item = self.item_for(e)
        if item is None:
            return
        t, p = e.type or "", e.payload
        index = self.content_index(e, item, opening=False) if t in PART_SCOPED else None
        if t in PART_SCOPED and item.parts.get(index) is not False:
            self.grammar.append((e, f"content_index {quote(index)} is not an open content part"))
        key = (t if t in DELTA_DONE else DONE_DELTA[t], index)
        if key in item.done_text:
            self.grammar.append((e, f"{t} after the done event of the same content"))
            return
        if t in DELTA_DONE:
            delta = p.get("delta")
            item.deltas.setdefault(key, []).append(delta if isinstance(delta, str) else "")
            return
        done_text = p.get("arguments") if t == "response.function_call_arguments.done" else p.get("text")
        pieces = item.deltas.get(key)
        if pieces is not None and "".join(pieces) != done_text:
            self.text.append(
                (
                    e,
                    f"expected the done text to equal the deltas' concatenation "
                    f"{quote(''.join(pieces))}, got {quote(done_text)}",
                )
            )
        item.done_text[key] = done_text if isinstance(done_text, str) else ""

    def compare_part_text(self, e: Ev, item: _Item, index: int) -> None:
        part = e.payload.get("part")
        done = item.done_text.get(("response.output_text.delta", index))
        if (
            isinstance(part, dict)
            and part.get("type") == "output_text"
            and done is not None
            and part.get("text") != done
        ):
            self.text.append((e, f"expected part text {quote(done)}, got {quote(part.get('text'))}"))

    def close(self, terminal: Ev | None) -> None:
        open_items = [i for i, item in self.items.items() if not item.done]
        if open_items and terminal is not None and terminal.type == "response.completed":
            self.grammar.append((terminal, f"output item(s) {open_items} never closed by output_item.done"))


def _walk(events: list[Ev]) -> _Grammar:
    state = _Grammar()
    terminal = None
    for e in events:
        if e.type is None:
            continue
        if e.type in TERMINAL:
            terminal = e
        state.feed(e)
    state.close(terminal)
    return state


def grammar(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    for _, events in _streams(exchanges):
        state = _walk(events)
        for rule_, complaints in ((GRAMMAR, state.grammar), (INDICES, state.indices), (TEXT_CONCAT, state.text)):
            yield from _grouped(rule_, complaints)


def _grouped(rule_: Rule, complaints: list[tuple[Ev, str]]) -> Iterator[Finding]:
    """One finding per (event type, complaint), counting the events that share it."""
    groups: dict[tuple[str | None, str], list[int]] = {}
    for e, message in complaints:
        groups.setdefault((e.type, message), []).append(e.index)
    for (type_name, message), where in groups.items():
        yield rule_.finding(f"{type_name}: {message} ({_where(where)})")


def final_agrees(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    for ex, events in _streams(exchanges):
        final = response_body(ex)
        if not isinstance(final, dict):
            continue
        state = _walk(events)
        streamed = "".join(
            text
            for item in state.items.values()
            for (kind, _), text in sorted(item.done_text.items(), key=lambda kv: kv[0][1] or 0)
            if kind == "response.output_text.delta"
        )
        if state.items and streamed != output_text(final):
            yield TEXT_CONCAT.finding(
                "expected the final response's text to equal the streamed text "
                f"{quote(streamed)}, got {quote(output_text(final))}"
            )
        output = final.get("output") if isinstance(final.get("output"), list) else []
        streamed_items = [(i.item_id, i.type) for i in state.items.values()]
        final_items = [(o.get("id"), o.get("type")) if isinstance(o, dict) else (None, None) for o in output]
        if streamed_items != final_items:
            yield FINAL_ITEMS.finding(
                f"expected output items (id, type) {quote(streamed_items)}, got {quote(final_items)}"
            )


def incremental(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    for _, events in _streams(exchanges):
        if len(events) >= 4 and len({e.offset_ms for e in events}) == 1:
            yield INCREMENTAL.finding(
                f"all {len(events)} events arrived at once, at {events[0].offset_ms:.1f} ms: the stream was buffered"
            )


STREAM_CHECKS = (is_sse, framing, event_schemas, event_order, sequence_numbers, grammar, final_agrees, incremental)
