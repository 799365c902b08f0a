"""Reasoning checks: reasoning comes back as `reasoning` items, is counted in usage, and stays out of the answer.

A server that does not parse a model's reasoning hands it to the client as answer text ("<think>..."
inside output_text); that leak is the most common reasoning bug, so every reasoning probe looks for it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import Any

from conformance.checks.core import _ok, output_text, response_body
from conformance.checks.rules import quote, rule
from conformance.checks.stream_model import Item, Run, stream_of
from conformance.checks.view import Scope, View, scoped
from conformance.evidence import Exchange, Finding, Level

ITEM = rule("reasoning.item", Level.MUST, "with reasoning.effort set, the output holds a reasoning item", effect=True)
NONE = rule(
    "reasoning.effort_none",
    Level.MUST,
    "with reasoning.effort none, no reasoning text comes back and reasoning_tokens is 0",
    effect=True,
)
NO_LEAK = rule(
    "reasoning.no_leak",
    Level.MUST,
    "reasoning stays out of output_text: no think tags or channel markers, no copy of the reasoning item",
)
TOKENS = rule(
    "reasoning.tokens",
    Level.SHOULD,
    "usage.output_tokens_details.reasoning_tokens is an integer, > 0 when reasoning came back, <= output_tokens",
)
SUMMARY = rule(
    "reasoning.summary",
    Level.MUST,
    "with reasoning.summary set, reasoning items carry non-empty summary_text parts",
    effect=True,
)
# A SHOULD, as stream.done_events is for text: the SDKs' accumulators and the Agents SDK take the reasoning from
# its done event and output_item.done, so reasoning sent whole in reasoning_text.done (LM Studio, as
# earendil-works/pi#4193 reports), or deltas left unclosed, reach every client whole.
STREAM_EVENTS = rule(
    "reasoning.stream_events",
    Level.SHOULD,
    "streamed reasoning text arrives as reasoning_text.delta events, closed by reasoning_text.done",
)
STREAM_TEXT = rule(
    "reasoning.stream_text", Level.MUST, "the reasoning deltas concatenate to the final reasoning item's text"
)
STREAM_CLOSED = rule(
    "reasoning.stream_item_closed",
    Level.SHOULD,
    "a streamed reasoning item is closed by output_item.done before the next item opens",
)

# Raw reasoning markup of common model families (Qwen/DeepSeek, Mistral, gpt-oss harmony); "assistantfinal"
# is what harmony's channel switch reads as once its special tokens are stripped from the text.
LEAK_MARKERS = (
    "<think>",
    "</think>",
    "[THINK]",
    "[/THINK]",
    "<|channel|>",
    "<|message|>",
    "<|start|>",
    "<|end|>",
    "assistantfinal",
)
# A reasoning text this long found verbatim in the answer is a copy, not a coincidence.
MIN_COPIED = 20


def output_items(body: Any) -> list[dict[str, Any]]:
    output = body.get("output") if isinstance(body, dict) else None
    return [item for item in output if isinstance(item, dict)] if isinstance(output, list) else []


def reasoning_items(body: Any) -> list[dict[str, Any]]:
    return [item for item in output_items(body) if item.get("type") == "reasoning"]


def _texts(parts: Any, kind: str) -> list[str]:
    if not isinstance(parts, list):
        return []
    return [
        p["text"] for p in parts if isinstance(p, dict) and p.get("type") == kind and isinstance(p.get("text"), str)
    ]


def reasoning_text(item: dict[str, Any]) -> str:
    """The item's raw reasoning: its reasoning_text content parts, joined."""
    return "".join(_texts(item.get("content"), "reasoning_text"))


def summary_text(item: dict[str, Any]) -> str:
    return "".join(_texts(item.get("summary"), "summary_text"))


def _types(body: Any) -> list[Any]:
    return [item.get("type") for item in output_items(body)]


def _final(exchanges: Sequence[Exchange]) -> dict[str, Any] | None:
    ok = _ok(exchanges)
    body = response_body(ok[-1]) if ok else None
    return body if isinstance(body, dict) else None


def has_reasoning_item(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    body = _final(exchanges)
    if body is not None and not reasoning_items(body):
        yield ITEM.finding(f"expected a reasoning item in output, got item types {quote(_types(body))}")


def no_reasoning(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    body = _final(exchanges)
    if body is None:
        return
    for item in reasoning_items(body):
        text = reasoning_text(item) or summary_text(item)
        if text.strip():
            yield NONE.finding(f"expected no reasoning, got reasoning item {quote(item.get('id'))}: {quote(text)}")
    count = _reasoning_tokens(body)
    if isinstance(count, int) and count > 0:
        yield NONE.finding(f"expected reasoning_tokens 0, got {count}")


def no_reasoning_leak(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    for ex in _ok(exchanges):
        body = response_body(ex)
        text = output_text(body)
        found = [(text.find(m), m) for m in LEAK_MARKERS if m in text]
        if found:
            at, _ = min(found)
            yield NO_LEAK.finding(
                f"expected no reasoning markup in output_text, got {', '.join(m for _, m in found)}: "
                f"{quote(text[max(0, at - 40) :])}"
            )
        for item in reasoning_items(body):
            reasoning = reasoning_text(item).strip()
            if len(reasoning) >= MIN_COPIED and reasoning in text:
                yield NO_LEAK.finding(
                    f"expected the reasoning to stay out of output_text, got it copied there: {quote(reasoning)}"
                )


def _reasoning_tokens(body: dict[str, Any]) -> Any:
    usage = body.get("usage")
    details = usage.get("output_tokens_details") if isinstance(usage, dict) else None
    return details.get("reasoning_tokens") if isinstance(details, dict) else None


def reasoning_tokens(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    body = _final(exchanges)
    if body is None:
        return
    count, usage = _reasoning_tokens(body), body.get("usage")
    if not isinstance(count, int) or isinstance(count, bool):
        yield TOKENS.finding(
            f"expected an integer usage.output_tokens_details.reasoning_tokens, got usage {quote(usage, 200)}"
        )
        return
    reasoned = any((reasoning_text(i) or summary_text(i)).strip() for i in reasoning_items(body))
    if reasoned and count == 0:
        yield TOKENS.finding("expected reasoning_tokens > 0 for the reasoning returned, got 0")
    total = usage.get("output_tokens") if isinstance(usage, dict) else None
    if isinstance(total, int) and count > total:
        yield TOKENS.finding(f"expected reasoning_tokens <= output_tokens {total}, got {count}")


def has_summary(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    body = _final(exchanges)
    if body is None:
        return
    items = reasoning_items(body)
    if not items:
        yield SUMMARY.finding(f"expected a reasoning item with a summary, got item types {quote(_types(body))}")
    elif not any(summary_text(item).strip() for item in items):
        yield SUMMARY.finding(f"expected summary_text parts, got summaries {quote([i.get('summary') for i in items])}")


@scoped(Scope.EVERY_OK)
def reasoning_stream(v: View) -> Iterator[Finding]:
    """Every reasoning item of the final response was streamed as deltas, closed by a done, and they agree."""
    if not v.is_stream:
        return
    streamed = {item.item_id: item for item in stream_of(v).in_order() if _reasoning_runs(item)}
    final = {item.get("id"): reasoning_text(item) for item in reasoning_items(v.response)}
    for item_id, text in final.items():
        if text and item_id not in streamed:
            yield STREAM_EVENTS.finding(
                f"expected response.reasoning_text.delta events for reasoning item {quote(item_id)}, got none; "
                f"the final response holds {quote(text)}"
            )
    for item_id, item in streamed.items():
        runs = _reasoning_runs(item)
        pieces = [piece for run in runs for piece in run.deltas]
        if any(run.done_at is None for run in runs):
            yield STREAM_EVENTS.finding(
                f"expected response.reasoning_text.done for item {quote(item_id)} "
                f"after its {len(pieces)} deltas, got none"
            )
        text = "".join(pieces)
        if item_id not in final:
            yield STREAM_TEXT.finding(
                f"expected reasoning item {quote(item_id)} in the final response (streamed {quote(text)}), "
                f"got reasoning items {quote(list(final))}"
            )
        elif text != final[item_id]:
            yield STREAM_TEXT.finding(
                f"expected the final reasoning text to equal the deltas' concatenation {quote(text)}, "
                f"got {quote(final[item_id])}"
            )


def _reasoning_runs(item: Item) -> list[Run]:
    """The item's reasoning_text runs that had deltas (a done alone streamed nothing)."""
    return [run for (name, _), run in item.runs.items() if name == "reasoning_text" and run.deltas]


@scoped(Scope.EVERY_OK)
def reasoning_closed_first(v: View) -> Iterator[Finding]:
    items = stream_of(v).in_order() if v.is_stream else []
    for item, following in itertools.pairwise(items):
        if item.type == "reasoning" and (item.closed_at is None or item.closed_at > following.opened_at):
            yield STREAM_CLOSED.finding(
                f"event #{following.opened_at}: expected reasoning item {quote(item.item_id)} closed by "
                f"output_item.done before the next item opens, got output_item.added of a "
                f"{quote(following.type)} item"
            )
            break
