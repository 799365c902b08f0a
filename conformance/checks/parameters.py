"""Checks for the request parameters the provider guide lists as possibly ignored.

Each parameter is judged on what can be seen from outside: an echo in the Response (SHOULD), or its
documented effect (MUST, and IGNORED when absent). Parameters with no visible effect are only
echoed; their probes expect ACCEPTED.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from conformance import safejson
from conformance.checks.core import _ok, is_create, output_text, response_body, route, text_parts
from conformance.checks.echo import absent, absent_echo
from conformance.checks.reasoning import output_items, reasoning_items
from conformance.checks.rules import Rule, quote, rule
from conformance.evidence import Exchange, Finding, Level
from conformance.jsonpath import MISSING, at_path

ECHO = rule("parameters.echo", Level.SHOULD, "the Response echoes the value sent for each parameter it lists")
METADATA = rule("parameters.metadata", Level.MUST, "the Response carries the metadata sent", effect=True)
MAX_OUTPUT = rule(
    "parameters.max_output_tokens", Level.MUST, "usage.output_tokens stays within max_output_tokens", effect=True
)
INCOMPLETE = rule(
    "parameters.incomplete",
    Level.MUST,
    "an answer stopped by max_output_tokens has status incomplete, incomplete_details.reason max_output_tokens",
)
LOGPROBS = rule(
    "parameters.logprobs",
    Level.MUST,
    "with include message.output_text.logprobs, every output_text part carries token logprobs",
    effect=True,
)
TOP_LOGPROBS = rule(
    "parameters.top_logprobs", Level.MUST, "with top_logprobs n, every token lists 1 to n alternatives", effect=True
)
ENCRYPTED = rule(
    "parameters.encrypted_reasoning",
    Level.MUST,
    "with include reasoning.encrypted_content, every reasoning item carries a non-empty encrypted_content",
    effect=True,
)
OBFUSCATION = rule(
    "parameters.obfuscation_off",
    Level.MUST,
    "with stream_options.include_obfuscation false, no event carries an obfuscation field",
    effect=True,
)
BACKGROUND = rule(
    "parameters.background",
    Level.MUST,
    "with background true, the POST returns at once with status queued or in_progress",
    effect=True,
)
PROMPT = rule(
    "parameters.prompt_unknown",
    Level.MUST,
    "a prompt template id the provider cannot know is rejected, not silently served",
    effect=True,
)

COUNT = rule(
    "parameters.input_tokens_count",
    Level.MUST,
    "POST /responses/input_tokens answers a JSON object whose input_tokens is a positive integer",
)
COUNT_OBJECT = rule(
    "parameters.input_tokens_object", Level.SHOULD, "the input token count says object 'response.input_tokens'"
)
COUNT_AGREES = rule(
    "parameters.input_tokens_agree",
    Level.SHOULD,
    "the input token count is within a tenth (and 4 tokens) of usage.input_tokens of a create with the same body",
)
# The count is what a create with the same body would bill, so they should agree; the slack covers a chat template
# that writes the date or a token budget into the prompt.
AGREE_SHARE, AGREE_TOKENS = 0.1, 4


def _same(sent: Any, got: Any) -> bool:
    """Equal, with numbers compared loosely: 0.3 may come back as float32 0.30000001192092896."""
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (sent, got))
    return math.isclose(sent, got, rel_tol=1e-6, abs_tol=1e-9) if numbers else bool(sent == got)


def echoes(*paths: str, rule_: Rule = ECHO) -> Callable[[Sequence[Exchange]], Iterator[Finding]]:
    """Each answered POST's Response holds, at each dotted path, the value its request sent there.

    Under the plain echo rule an absent (or null) echo is the core column's finding (checks/echo.py);
    a rule that makes the echo the effect itself (metadata) counts its absence.
    """

    def check(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
        for ex in _ok(exchanges):
            sent_body, body = ex.request_json(), response_body(ex)
            if not isinstance(sent_body, dict) or not isinstance(body, dict):
                continue
            for path in paths:
                sent, got = at_path(sent_body, path), at_path(body, path)
                if sent is MISSING:
                    continue
                if absent(got) and rule_ is ECHO:
                    yield absent_echo(path, sent)
                elif got is MISSING or not _same(sent, got):
                    shown = f"no {path}" if got is MISSING else quote(got)
                    yield rule_.finding(f"expected {path} {quote(sent)} echoed, got {shown}")

    check.__name__ = "echoes_" + "_".join(p.replace(".", "_") for p in paths)
    return check


echoes_metadata = echoes("metadata", rule_=METADATA)


def echoes_service_tier(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    """The Response names the tier that served the request, which the API documents may differ from the one asked.

    Clients read it to price the request, so any tier's name will do; 'auto' names none (it asks the
    provider to choose), and absent or null is the echo gap (checks/echo.py).
    """
    for ex in _ok(exchanges):
        sent, body = _sent(ex).get("service_tier", MISSING), response_body(ex)
        if sent is MISSING or not isinstance(body, dict):
            continue
        got = body.get("service_tier", MISSING)
        if absent(got):
            yield absent_echo("service_tier", sent)
        elif not isinstance(got, str) or not got or (got == "auto" and sent != "auto"):
            yield ECHO.finding(f"expected service_tier to name the tier used for {quote(sent)}, got {quote(got)}")


def _last(exchanges: Sequence[Exchange]) -> tuple[Exchange, dict[str, Any]] | None:
    """The last answered exchange and its Response, when it is an object."""
    ok = _ok(exchanges)
    body = response_body(ok[-1]) if ok else None
    return (ok[-1], body) if isinstance(body, dict) else None


def _sent(ex: Exchange) -> dict[str, Any]:
    """The request body as an object; empty for a GET or anything odd."""
    body = ex.request_json()
    return body if isinstance(body, dict) else {}


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def within_max_output_tokens(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    """The limit holds, and an answer that reached it says so (status incomplete, with the reason).

    The probe asks for far more text than the limit allows, so an answer is read as stopped by it when
    it used exactly the limit, or when it holds no text at all (the budget went on reasoning, or the
    server dropped the cut answer, as vLLM 0.10 did: status completed, empty output, usage zeros):
    reported as completed, a client takes it for the whole answer (the Agents SDK's final output is '').
    An answer over the limit was not cut at all: the limit was ignored, and its status is true.
    """
    last = _last(exchanges)
    if last is None:
        return
    ex, body = last
    limit = _int(_sent(ex).get("max_output_tokens"))
    if limit is None:
        return
    usage = body.get("usage")
    used = _int(usage.get("output_tokens")) if isinstance(usage, dict) else None
    status, details = body.get("status"), body.get("incomplete_details")
    reason = details.get("reason") if isinstance(details, dict) else None
    text = output_text(body)
    if used is not None and used > limit:
        yield MAX_OUTPUT.finding(f"expected usage.output_tokens <= max_output_tokens {limit}, got {used}")
    elif status != "incomplete" and (used == limit or not text.strip()):
        cut = f"that used {used} of" if used == limit else f"with no text ({quote(used)} output tokens) under"
        yield INCOMPLETE.finding(
            f"expected status 'incomplete' for an answer {cut} max_output_tokens {limit}, "
            f"got {quote(status)} with text {quote(text)}"
        )
    if status == "incomplete" and reason != "max_output_tokens":
        yield INCOMPLETE.finding(f"expected incomplete_details.reason 'max_output_tokens', got {quote(details)}")


def has_logprobs(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    last = _last(exchanges)
    if last is None:
        return
    for index, part in enumerate(text_parts(last[1])):
        logprobs = part.get("logprobs")
        if not isinstance(logprobs, list) or not logprobs:
            yield LOGPROBS.finding(
                f"expected output_text part {index} ({quote(part.get('text'), 60)}) to carry logprobs, "
                f"got {quote(logprobs)}"
            )


def has_top_logprobs(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    last = _last(exchanges)
    if last is None:
        return
    ex, body = last
    wanted = _int(_sent(ex).get("top_logprobs"))
    if not wanted:
        return
    tokens = [t for part in text_parts(body) if isinstance(part.get("logprobs"), list) for t in part["logprobs"]]
    if not tokens:
        parts = [part.get("logprobs") for part in text_parts(body)]
        yield TOP_LOGPROBS.finding(
            f"expected token logprobs with {wanted} alternatives each, got logprobs {quote(parts)}"
        )
        return
    counts = [
        len(t["top_logprobs"]) if isinstance(t, dict) and isinstance(t.get("top_logprobs"), list) else None
        for t in tokens
    ]
    bad = [i for i, n in enumerate(counts) if n is None or not 1 <= n <= wanted]
    if bad:
        first = tokens[bad[0]]
        shown = first.get("top_logprobs") if isinstance(first, dict) else first
        yield TOP_LOGPROBS.finding(
            f"expected 1 to {wanted} top_logprobs per token, got {quote(shown)} "
            f"({len(bad)} of {len(tokens)} tokens, first token #{bad[0]})"
        )


def has_encrypted_reasoning(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    last = _last(exchanges)
    if last is None:
        return
    body = last[1]
    items = reasoning_items(body)
    if not items:
        types = [item.get("type") for item in output_items(body)]
        yield ENCRYPTED.finding(
            f"expected reasoning items carrying encrypted_content, got output item types {quote(types)}"
        )
    for item in items:
        encrypted = item.get("encrypted_content")
        if not isinstance(encrypted, str) or not encrypted:
            yield ENCRYPTED.finding(
                f"expected a non-empty encrypted_content on reasoning item {quote(item.get('id'))}, "
                f"got {quote(encrypted)}"
            )


def no_obfuscation(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    for ex in _ok(exchanges):
        payloads = [_payload(e.data) for e in ex.events or ()]
        marked = [i for i, p in enumerate(payloads) if isinstance(p, dict) and "obfuscation" in p]
        if marked:
            first = payloads[marked[0]]
            yield OBFUSCATION.finding(
                f"expected no obfuscation field, got it on {len(marked)} of {len(payloads)} events, "
                f"first event #{marked[0]} {quote(first.get('type'))}: {quote(first.get('obfuscation'))}"
            )


def _payload(data: str) -> Any:
    try:
        return safejson.loads(data)
    except ValueError:
        return None


def runs_in_background(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    """The first answer, not the last: a background POST comes back before the work is done."""
    ok = _ok(exchanges)
    body = response_body(ok[0]) if ok else None
    if not isinstance(body, dict):
        return
    if body.get("status") not in ("queued", "in_progress"):
        yield BACKGROUND.finding(
            f"expected status 'queued' or 'in_progress' from the POST, got {quote(body.get('status'))}: "
            "the request ran in the foreground"
        )


def unknown_prompt_rejected(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    for ex in _ok(exchanges):
        prompt = _sent(ex).get("prompt")
        yield PROMPT.finding(
            f"expected a 4xx for prompt {quote(prompt)}, which the suite never created, got {ex.status} "
            f"answering {quote(output_text(response_body(ex)))}"
        )


def _billed(exchanges: Sequence[Exchange]) -> int | None:
    """usage.input_tokens of the first answered create, when it is an integer."""
    body = next((response_body(ex) for ex in _ok(exchanges) if is_create(ex)), None)
    usage = body.get("usage") if isinstance(body, dict) else None
    return _int(usage.get("input_tokens")) if isinstance(usage, dict) else None


def counts_input_tokens(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    """The count's shape as the SDKs read it (InputTokenCountResponse), then its agreement with a create's usage.

    A create without integer usage is the core column's finding (response.usage): nothing to compare with.
    """
    billed = _billed(exchanges)
    for ex in (ex for ex in _ok(exchanges) if route(ex).kind == "count"):
        body = ex.json_or_none() if ex.content_type == "application/json" else None
        count = _int(body.get("input_tokens")) if isinstance(body, dict) else None
        if not isinstance(body, dict):
            yield COUNT.finding(f"expected a JSON object (content-type {quote(ex.content_type)}), got {quote(ex.body)}")
            continue
        if count is None or count <= 0:
            yield COUNT.finding(f"expected input_tokens a positive integer, got {quote(body.get('input_tokens'))}")
        if body.get("object") != "response.input_tokens":
            yield COUNT_OBJECT.finding(f"expected object 'response.input_tokens', got {quote(body.get('object'))}")
        if count is not None and count > 0 and billed is not None and not _agrees(count, billed):
            yield COUNT_AGREES.finding(
                f"expected input_tokens {count} close to the usage.input_tokens of a create with the same body, "
                f"got {billed}"
            )


def _agrees(count: int, billed: int) -> bool:
    return abs(count - billed) <= max(AGREE_TOKENS, AGREE_SHARE * billed)
