"""Rules for what a hostile answer can do to the suite itself, rather than to a client.

The harness turns these situations into findings, so a cell names them instead of crashing: an
unexpected error inside the cell, a server-supplied id that would steer the next request's URL, and
JSON that parsers read differently (duplicate keys).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from conformance import safejson
from conformance.checks.rules import quote, rule
from conformance.evidence import Exchange, Finding, Level

INTERNAL = rule("harness.internal", Level.MUST, "the cell ran without an unexpected error in the suite itself")
JUDGE_TIME = rule("harness.judge_time", Level.MUST, "judging the cell finished within its time budget")
NOTHING_SENT = rule(
    "harness.nothing_sent", Level.MUST, "the probe sent a request (a cell with no exchange says why it has none)"
)
UNSAFE_VALUE = rule(
    "http.unsafe_value",
    Level.MUST,
    "a value taken from an answer (an id) is safe to put in the next request's URL; else nothing is sent",
)
UNIQUE_KEYS = rule("json.unique_keys", Level.SHOULD, "a JSON object names each key once (RFC 8259: SHOULD)")


def unique_keys(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    """Duplicate keys parse differently from one client to the next (first wins, last wins, error)."""
    for ex in exchanges:
        texts = [ex.body] if ex.events is None else [e.data for e in ex.events]
        for index, text in enumerate(texts):
            keys = safejson.duplicate_keys(text) if text.lstrip().startswith("{") else []
            if keys:
                where = "the body" if ex.events is None else f"event #{index}"
                yield UNIQUE_KEYS.finding(f"expected each key once per object, {where} repeats {quote(keys)}")
                break
