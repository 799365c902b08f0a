"""Checks for what agents send: tools of other types than `function`, and what comes back for them.

Agent frameworks offer a `custom` tool (free-form input, answered with a `custom_tool_call` item)
and built-in tools such as `web_search` beside their functions. A server that serves such a request
but never calls the tool has silently ignored it: these rules are `effect` rules, so the cell says
IGNORED. A server that refuses the request with a clean 4xx is UNSUPPORTED, as for any feature.
A custom tool may constrain its input with a grammar (`format`), as Codex's `apply_patch` does: an
input outside that language is what a server that ignored the format gives, and the client cannot
parse it. An `item_reference` names an earlier output item by id instead of repeating it, as the
Vercel AI SDK sends every stored item; an answer that does not know what the item said is what a
server that dropped the reference gives. LangChain, pydantic-ai and the Agents SDK, chaining turns
by `previous_response_id`, answer a call with its function_call_output alone: the call lives only in
the stored Response, so a server that drops the chain reads an output for no call. The Agents SDK
hands a conversation to another agent by a call to its `transfer_to_<agent>` tool; the receiving
agent's turn then carries a call to a tool it no longer offers. The other agent probes (replayed
history, tool output as parts, files) reuse the core and tools checks: what they need to prove is
that the server accepts the input and the answer uses it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from conformance.checks.core import _ok, output_text, response_body
from conformance.checks.rules import Tag, quote, rule
from conformance.checks.state import history_counted_against
from conformance.checks.tools import function_calls
from conformance.evidence import Exchange, Finding, Level

CUSTOM_CALL = rule(
    "agents.custom_call",
    Level.MUST,
    "offered a custom tool the prompt needs, the model answers with a custom_tool_call item "
    "(non-empty call_id, the declared name, a string input)",
    effect=True,
)
BUILTIN_CALL = rule(
    "agents.builtin_call",
    Level.MUST,
    "a served request offering a built-in tool the prompt needs gets that tool's call item (e.g. web_search_call)",
    effect=True,
)
CUSTOM_GRAMMAR = rule(
    "agents.custom_grammar",
    Level.MUST,
    "a custom tool whose `format` is a grammar is called with an input in that grammar's language",
    effect=True,
)
REFERENCE_READ = rule(
    "agents.reference_read",
    Level.MUST,
    "a turn naming earlier items by `item_reference` costs more input tokens than the same turn without them",
    effect=True,
)
REFERENCE_SENT = rule(
    "agents.reference_sent",
    Level.INFO,
    "the first answer's items had ids, so the second turn named them by item_reference",
)
REFERENCE_USED = rule(
    "agents.reference_used",
    Level.MUST,
    "a turn that names its earlier answer by `item_reference` gets a reply that knows what that answer said",
    tag=Tag.SEMANTIC,
    effect=True,
)
CHAINED_CALL_READ = rule(
    "agents.chained_call_read",
    Level.MUST,
    "a turn sending a function_call_output alone, chained by previous_response_id to the Response that made the "
    "call, costs more input tokens than that Response's turn: the call and its question were read",
    effect=True,
)
HANDOFF = rule(
    "agents.handoff",
    Level.MUST,
    "offered handoffs, the model calls the one the question needs; the agent it hands to calls its own tool, though "
    "its history holds a call to a tool it no longer offers",
    tag=Tag.SEMANTIC,
)

# A built-in tool type -> the output item type that records its call.
BUILTIN_ITEMS = {
    "web_search": "web_search_call",
    "web_search_preview": "web_search_call",
    "file_search": "file_search_call",
    "code_interpreter": "code_interpreter_call",
}


def items_of(body: Any, kind: str) -> list[dict[str, Any]]:
    """The output items of one type in a Response."""
    output = body.get("output") if isinstance(body, dict) else None
    return [i for i in output if isinstance(i, dict) and i.get("type") == kind] if isinstance(output, list) else []


def offered(request: Any, kind: str) -> list[dict[str, Any]]:
    """The tools of one type a request offers."""
    tools = request.get("tools") if isinstance(request, dict) else None
    return [t for t in tools if isinstance(t, dict) and t.get("type") == kind] if isinstance(tools, list) else []


def _types(body: Any) -> list[Any]:
    output = body.get("output") if isinstance(body, dict) else None
    return [i.get("type") if isinstance(i, dict) else i for i in output] if isinstance(output, list) else []


def custom_called(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    """Judged on the first turn; a later turn answers the tool's output instead."""
    ok = _ok(exchanges)
    if not ok:
        return
    names = [t.get("name") for t in offered(ok[0].request_json(), "custom")]
    body = response_body(ok[0])
    calls = items_of(body, "custom_tool_call")
    if not calls:
        yield CUSTOM_CALL.finding(
            f"expected a custom_tool_call item, got output types {quote(_types(body))} "
            f"with text {quote(output_text(body))}"
        )
    for call in calls:
        call_id, name, given = call.get("call_id"), call.get("name"), call.get("input")
        if not isinstance(call_id, str) or not call_id:
            yield CUSTOM_CALL.finding(f"expected a non-empty call_id, got {quote(call_id)} in {quote(call, 200)}")
        if name not in names:
            yield CUSTOM_CALL.finding(f"expected the name of a declared custom tool {quote(names)}, got {quote(name)}")
        if not isinstance(given, str):
            yield CUSTOM_CALL.finding(f"expected input as a string, got {quote(given)}")


def builtin_called(kind: str) -> Callable[[Sequence[Exchange]], Iterator[Finding]]:
    """A served request offering the built-in tool `kind` holds its call item."""
    item = BUILTIN_ITEMS[kind]

    def check(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
        ok = _ok(exchanges)
        if ok and offered(ok[0].request_json(), kind) and not items_of(body := response_body(ok[0]), item):
            yield BUILTIN_CALL.finding(
                f"offered {kind!r}, expected a {item} item, got output types {quote(_types(body))} "
                f"with text {quote(output_text(body))}"
            )

    check.__name__ = f"calls_{kind}"
    return check


def custom_input_matches(pattern: str) -> Callable[[Sequence[Exchange]], Iterator[Finding]]:
    """Every custom_tool_call of the first turn has an input `pattern` (the grammar's language) matches whole."""
    language = re.compile(pattern)

    def check(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
        ok = _ok(exchanges)
        for call in items_of(response_body(ok[0]), "custom_tool_call") if ok else []:
            given = call.get("input")
            if isinstance(given, str) and not language.fullmatch(given):
                yield CUSTOM_GRAMMAR.finding(
                    f"expected an input in the tool's grammar (the language of {pattern!r}), got {quote(given)}"
                )

    check.__name__ = "custom_input_in_grammar"
    return check


NUMBER = re.compile(r"(?<!\d)\d{3}(?!\d)")


def _references(ex: Exchange) -> list[Any]:
    """The ids a request names by item_reference."""
    sent = ex.request_json()
    items = sent.get("input") if isinstance(sent, dict) else None
    return [i.get("id") for i in items or [] if isinstance(i, dict) and i.get("type") == "item_reference"]


def reference_read(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    """The turn with references against the same turn without them (the probe's last): the items were read.

    Read on the wire, so a server that drops the references is IGNORED with semantic checks off too.
    """
    ok = _ok(exchanges)
    referring = next((ex for ex in ok if _references(ex)), None)
    if referring is None:
        if len(exchanges) > 1:
            yield REFERENCE_SENT.finding("no item of the first answer had an id, so nothing went by item_reference")
        return
    if len(ok) > 2 and ok[-1] is not referring:
        yield from history_counted_against(
            referring, ok[-1], f"item_reference {quote(_references(referring))}", REFERENCE_READ
        )


def recalls_referenced_number(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    """The reply to the turn with references names a three-digit number the first answer chose, which only the
    referenced items told it. The first answer's last such number is quoted: a model that thinks aloud names
    others first.

    Not applicable when the first answer named none: nothing then tells a kept reference from a dropped one, and
    has_output_text judges an answer that said nothing.
    """
    ok = _ok(exchanges)
    referring = next((ex for ex in ok if _references(ex)), None)
    chosen = NUMBER.findall(output_text(response_body(ok[0]))) if ok else []
    if referring is None or not chosen:
        return
    reply = output_text(response_body(referring))
    if not set(chosen) & set(NUMBER.findall(reply)):
        yield REFERENCE_USED.finding(
            f"expected the reply to name {chosen[-1]!r}, the number the referenced answer chose, "
            f"got {quote(reply, 200)}"
        )


def chained_call_read(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    """The chained turn's prompt holds the first turn's whole prompt, its call and the output: it costs more.

    Read on the wire, so a server that drops the chain is IGNORED with semantic checks off too.
    """
    ok = _ok(exchanges)
    if len(ok) > 1:
        chained, first = ok[1], ok[0]
        sent = chained.request_json()
        what = f"previous_response_id {quote(sent.get('previous_response_id') if isinstance(sent, dict) else None)}"
        yield from history_counted_against(
            chained, first, what, CHAINED_CALL_READ, alone_is="the turn that made the call"
        )


def handed_off(handoff: str, tool: str) -> Callable[[Sequence[Exchange]], Iterator[Finding]]:
    """The first turn calls `handoff` (calls_a_tool judges a turn without any call); the receiving agent's turn, the
    second, calls `tool`."""

    def check(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
        ok = _ok(exchanges)
        called = [c.get("name") for c in function_calls(response_body(ok[0]))] if ok else []
        if called and handoff not in called:
            yield HANDOFF.finding(
                f"expected a call to {handoff!r}, the handoff the question needs, got {quote(called)}"
            )
        body = response_body(ok[1]) if len(ok) > 1 else None
        if body is not None and tool not in [c.get("name") for c in function_calls(body)]:
            yield HANDOFF.finding(
                f"turn 2, after the handoff: expected a call to {tool!r}, got output types {quote(_types(body))} "
                f"with text {quote(output_text(body))}"
            )

    check.__name__ = "hands_off"
    return check
