"""The stream grammar as data, and the one walk of a stream that the streaming, tools and reasoning checks share.

`FAMILIES` lists each start/delta/done family of the Responses stream: which event opens a scope,
which grows it and which closes it, what index tells its scopes apart and which field of the done
event holds the whole text. A small stack machine runs the table: each open output item keeps a
stack of its open parts and text runs; an event must close what is on top of its item's stack.
Items are found by `output_index` (by `item_id` when a server omits the index), so parallel items
may interleave, as the SDK's own accumulator allows.

The walk records what each item was built from (its deltas, done texts, the item as opened and as
closed, and the event positions), so the tools and reasoning checks read calls and reasoning from
it rather than walking the events again; and it records complaints, which the streaming checks
turn into grouped findings.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from conformance.checks.rules import quote
from conformance.checks.view import TERMINAL_EVENTS, Ev, View


@dataclass(frozen=True)
class Family:
    """One start/delta/done family: events that open, grow and close one kind of scope."""

    name: str
    level: Literal["item", "part", "text"]
    done: str
    start: str | None = None
    delta: str | None = None
    key: str | None = None  # the index field that tells this family's scopes of one item apart
    text: str | None = None  # the done event's field holding the whole text
    # The part family whose open scope this family's events live in: the Node SDK's accumulator writes each
    # delta into that part (content[content_index], summary[summary_index]) and throws when it was never added.
    part: str | None = None
    # The item's list that both SDKs append each opened part to, and later index by `key`: a part opened at an
    # index past its place in that list leaves its deltas no part there (IndexError, "missing content at index").
    into: str | None = None


FAMILIES = (
    Family("output_item", "item", "response.output_item.done", start="response.output_item.added"),
    Family(
        "content_part",
        "part",
        "response.content_part.done",
        start="response.content_part.added",
        key="content_index",
        into="content",
    ),
    Family(
        "reasoning_summary_part",
        "part",
        "response.reasoning_summary_part.done",
        start="response.reasoning_summary_part.added",
        key="summary_index",
        into="summary",
    ),
    Family(
        "output_text",
        "text",
        "response.output_text.done",
        delta="response.output_text.delta",
        key="content_index",
        text="text",
        part="content_part",
    ),
    Family(
        "refusal",
        "text",
        "response.refusal.done",
        delta="response.refusal.delta",
        key="content_index",
        text="refusal",
        part="content_part",
    ),
    Family(
        "reasoning_text",
        "text",
        "response.reasoning_text.done",
        delta="response.reasoning_text.delta",
        key="content_index",
        text="text",
        part="content_part",
    ),
    Family(
        "reasoning_summary_text",
        "text",
        "response.reasoning_summary_text.done",
        delta="response.reasoning_summary_text.delta",
        key="summary_index",
        text="text",
        part="reasoning_summary_part",
    ),
    Family(
        "function_call_arguments",
        "text",
        "response.function_call_arguments.done",
        delta="response.function_call_arguments.delta",
        text="arguments",
    ),
)
# The (part family, item type) pairs whose list (`Family.into`) the SDKs' accumulators append each opened part to as
# the item was opened, without creating it: a message's content (both SDKs), a reasoning item's summary (the Node
# SDK). A reasoning item's content the Node SDK creates when it is missing, and the Python SDK keeps no reasoning part.
APPENDED = {("content_part", "message"): "both SDKs'", ("reasoning_summary_part", "reasoning"): "the Node SDK's"}
BY_EVENT = {
    event: family for family in FAMILIES for event in (family.start, family.delta, family.done) if event is not None
}
BY_NAME = {family.name: family for family in FAMILIES}

Slot = tuple[str, int | None]  # a scope of one item: (family name, its index)


@dataclass
class Run:
    """One text run: the deltas of a family and index within an item, and its done event."""

    deltas: list[str] = field(default_factory=list)
    done: str | None = None  # the done event's whole text, when it carried a string
    done_at: int | None = None

    @property
    def text(self) -> str:
        """What the run streamed: the done event's text, or the deltas when no done event carried one."""
        return self.done if self.done is not None else "".join(self.deltas)


@dataclass
class Item:
    """One output item as the stream built it."""

    output_index: int
    item_id: Any
    type: Any
    added: dict[str, Any]
    opened_at: int
    closed: dict[str, Any] | None = None  # the item as output_item.done carried it
    closed_at: int | None = None
    stack: list[Slot] = field(default_factory=list)  # open parts and text runs, innermost last
    parts: dict[Slot, bool] = field(default_factory=dict)  # every part opened -> closed yet
    runs: dict[Slot, Run] = field(default_factory=dict)

    def texts(self, family: str) -> list[str]:
        """The streamed text of each of the item's runs of `family`, by index."""
        return [run.text for (name, _), run in sorted(self.runs.items(), key=_by_index) if name == family]

    def run(self, family: str) -> Run | None:
        """The item's first run of `family` (function_call arguments have one)."""
        return next((run for (name, _), run in sorted(self.runs.items(), key=_by_index) if name == family), None)


def _item_id(e: Ev) -> Any:
    """The item id an event names: `item_id`, or the id of the item that output_item events carry."""
    item = e.get("item")
    return e.get("item_id") if not isinstance(item, dict) else item.get("id")


def _label(scope: Slot) -> str:
    family = BY_NAME[scope[0]]
    return f"{family.key} {scope[1]}" if family.level == "part" else f"{family.delta} {quote(scope[1])}"


def _by_index(entry: tuple[Slot, Any]) -> int:
    return entry[0][1] or 0


@dataclass
class Stream:
    """A stream as the grammar walked it: its items, its terminal event, and what broke the grammar."""

    items: dict[int, Item] = field(default_factory=dict)
    terminal: Ev | None = None
    grammar: list[tuple[Ev, str]] = field(default_factory=list)
    indices: list[tuple[Ev, str]] = field(default_factory=list)
    text: list[tuple[Ev, str]] = field(default_factory=list)
    unclosed: list[tuple[Ev, Family, int | None]] = field(default_factory=list)  # runs no done event closed
    lists: list[tuple[Ev, str]] = field(default_factory=list)  # parts opened into an item that has no list for them

    def in_order(self) -> list[Item]:
        return sorted(self.items.values(), key=lambda i: i.opened_at)

    def feed(self, e: Ev) -> None:
        family = BY_EVENT.get(e.type or "")
        if e.type in TERMINAL_EVENTS:
            self.terminal = e
        if family is None:
            return
        if family.level == "item":
            if e.type == family.start:
                self.open_item(e)
            else:
                self.close_item(e)
            return
        item = self.item_for(e)
        if item is None:
            return
        if family.level == "part":
            self.part(e, family, item)
        else:
            self.delta_or_done(e, family, item)

    def item_for(self, e: Ev) -> Item | None:
        """The open item an event belongs to: by output_index, or by item_id when the index is missing."""
        index = e.get("output_index")
        if isinstance(index, int):
            item = self.items.get(index)
        else:
            self.indices.append((e, f"expected an integer output_index, got {quote(index)}"))
            item = self.by_id(_item_id(e))
        if item is None:
            self.grammar.append((e, f"output_index {quote(index)} was not opened by output_item.added"))
            return None
        if item.closed_at is not None:
            self.grammar.append((e, f"output_index {item.output_index} was already closed by output_item.done"))
        said = _item_id(e)
        if said is not None and said != item.item_id:
            self.indices.append(
                (e, f"expected item_id {quote(item.item_id)} (output_index {item.output_index}), got {quote(said)}")
            )
        return item

    def by_id(self, item_id: Any) -> Item | None:
        """The item an event without an index names by id; with no id either, the last one still open."""
        named = [i for i in self.in_order() if item_id is None or i.item_id == item_id]
        return next((i for i in reversed(named) if i.closed_at is None), named[-1] if named else None)

    def open_item(self, e: Ev) -> None:
        index, added = e.get("output_index"), e.get("item")
        if not isinstance(added, dict):
            self.grammar.append((e, f"expected an item object, got {quote(added)}"))
            return
        if not isinstance(index, int):
            self.indices.append((e, f"expected an integer output_index, got {quote(index)}"))
            index = len(self.items)
        if index in self.items:
            self.grammar.append((e, f"output_index {index} opened twice"))
        elif index != len(self.items):
            self.indices.append((e, f"expected output_index {len(self.items)}, got {index}"))
        self.items[index] = Item(index, added.get("id"), added.get("type"), added, e.index)

    def close_item(self, e: Ev) -> None:
        item = self.item_for(e)
        if item is None:
            return
        self.pop_runs(e, item)
        open_parts = [index for (_, index), closed in item.parts.items() if not closed]
        if open_parts:
            self.grammar.append((e, f"content part(s) {open_parts} still open"))
        done = e.get("item")
        item.closed, item.closed_at, item.stack = (done if isinstance(done, dict) else None), e.index, []

    def index_of(self, e: Ev, family: Family, item: Item, opening: bool) -> int | None:
        """The event's index within its item; when missing, the next scope (opening) or the last opened one."""
        if family.key is None:
            return None
        index = e.get(family.key)
        if isinstance(index, int):
            return index
        self.indices.append((e, f"expected an integer {family.key}, got {quote(index)}"))
        parent = family.part or family.name
        opened = [i for (name, i), _ in item.parts.items() if name == parent and i is not None]
        return len(opened) if opening else max(opened, default=0)

    def part(self, e: Ev, family: Family, item: Item) -> None:
        opening = e.type == family.start
        scope = (family.name, self.index_of(e, family, item, opening))
        label = f"{family.key} {scope[1]}"
        if opening:
            if scope in item.parts:
                self.grammar.append((e, f"{label} opened twice"))
            elif (scope[1] or 0) > (place := self.next_place(family, item)):
                self.indices.append((e, f"expected {family.key} {place}, the part's place in the item, got {scope[1]}"))
            self.check_list(e, family, item)
            item.parts[scope] = False
            item.stack.append(scope)
            return
        if scope not in item.parts:
            self.grammar.append((e, f"{label} closed but never opened"))
            return
        self.pop_runs(e, item)
        if item.stack and item.stack[-1] != scope:
            inner = item.stack[-1]
            self.grammar.append((e, f"{label} closed while {_label(inner)} inside it is still open"))
        if scope in item.stack:
            item.stack.remove(scope)
        item.parts[scope] = True
        self.compare_part_text(e, item, scope[1])

    def check_list(self, e: Ev, family: Family, item: Item) -> None:
        """The first part opened into an item that was opened without the list the SDKs append that part to."""
        held = item.added.get(family.into or "")
        first = not any(name == family.name for name, _ in item.parts)
        who = APPENDED.get((family.name, item.type)) if isinstance(item.type, str) else None
        if first and who is not None and not isinstance(held, list):
            self.lists.append(
                (
                    e,
                    f"{item.type} item {quote(item.item_id)} was opened by output_item.added with {family.into} "
                    f"{quote(held)}, not a list: {who} stream accumulator appends each part to it, and raises",
                )
            )

    def next_place(self, family: Family, item: Item) -> int:
        """Where the SDKs put the item's next part of `family`: after the parts the item came with and those added."""
        held = item.added.get(family.into or "")
        return (len(held) if isinstance(held, list) else 0) + sum(name == family.name for name, _ in item.parts)

    def pop_runs(self, e: Ev, item: Item) -> None:
        """Text runs still open when their part or item closes: deltas that no done event closed."""
        while item.stack and BY_NAME[item.stack[-1][0]].level == "text":
            name, index = item.stack.pop()
            self.unclosed.append((e, BY_NAME[name], index))

    def delta_or_done(self, e: Ev, family: Family, item: Item) -> None:
        index = self.index_of(e, family, item, opening=False)
        scope = (family.name, index)
        if family.part is not None and item.parts.get((family.part, index)) is not False:
            where = family.part.replace("_", " ")
            self.grammar.append((e, f"{family.key} {quote(index)} is not an open {where}"))
        run = item.runs.setdefault(scope, Run())
        if run.done_at is not None:
            self.grammar.append((e, f"{e.type} after the done event of the same content"))
            return
        if e.type == family.delta:
            delta = e.get("delta")
            run.deltas.append(delta if isinstance(delta, str) else "")
            if scope not in item.stack:
                item.stack.append(scope)
            return
        whole = e.get(family.text or "")
        if run.deltas and "".join(run.deltas) != whole:
            self.text.append(
                (
                    e,
                    f"expected the done text to equal the deltas' concatenation "
                    f"{quote(''.join(run.deltas))}, got {quote(whole)}",
                )
            )
        run.done, run.done_at = (whole if isinstance(whole, str) else None), e.index
        if scope in item.stack:
            item.stack.remove(scope)

    def compare_part_text(self, e: Ev, item: Item, index: int | None) -> None:
        part = e.get("part")
        run = item.runs.get(("output_text", index))
        if not isinstance(part, dict) or part.get("type") != "output_text" or run is None:
            return
        if part.get("text") != run.text:
            self.text.append((e, f"expected part text {quote(run.text)}, got {quote(part.get('text'))}"))

    def close(self) -> None:
        open_items = [i for i, item in self.items.items() if item.closed_at is None]
        if open_items and self.terminal is not None and self.terminal.type == "response.completed":
            self.grammar.append((self.terminal, f"output item(s) {open_items} never closed by output_item.done"))


def walk(events: Sequence[Ev]) -> Stream:
    stream = Stream()
    for e in events:
        if e.type is not None:
            stream.feed(e)
    stream.close()
    return stream


@functools.lru_cache(maxsize=32)
def _walked(v: View) -> Stream:
    return walk(v.events)


def stream_of(v: View) -> Stream:
    """The walk of a view's events, done once per exchange however many checks read it."""
    return _walked(v)
