"""Parameter probes: the request fields the provider guide says may be ignored, each alone.

How each outcome reads: a clean 4xx is UNSUPPORTED and a 5xx ERROR (the verdict does that); where
the parameter has an effect the suite can see, the probe checks it (IGNORED when absent); where it
has none (identifiers, hints), the probe expects ACCEPTED and only checks the echo, a SHOULD. Each
title says what is observed.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from conformance.checks.core import RESPONSE_CHECKS, json_body, on_creates, response_schema, usage_consistent
from conformance.checks.parameters import (
    counts_input_tokens,
    echoes,
    echoes_metadata,
    echoes_service_tier,
    has_encrypted_reasoning,
    has_logprobs,
    has_top_logprobs,
    no_obfuscation,
    runs_in_background,
    unknown_prompt_rejected,
    within_max_output_tokens,
)
from conformance.checks.streaming import STREAM_CHECKS
from conformance.evidence import Exchange
from conformance.probes.base import Expect, Probe, Request, single, text_input
from conformance.probes.streaming import FINAL_CHECKS
from conformance.urls import segment

HELLO = "Say hello."
# Long enough to pass any 16-token limit; "think" also makes the scripted fixture model reason first.
LONG_ANSWER = "Think of the numbers from 1 to 50 and write them all out, separated by commas."
MAX_OUTPUT_TOKENS = 16  # the smallest value OpenAI accepts
# Waits between polls of a background response; about 20 s in all.
POLL_DELAYS_S = (0.5, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0)
PENDING = ("queued", "in_progress")
# Some 60 tokens to count, so the count and the create's usage can be compared at a tenth's precision.
COUNT_INSTRUCTIONS = "You are a terse assistant. Answer in one short sentence, without lists or headings."
COUNT_INPUT = (
    "A lighthouse keeper logs the weather every morning: wind, rain, fog and the colour of the sea. "
    "In a few words, what is the keeper's job?"
)


def _status_and_id(ex: Exchange) -> tuple[Any, str | None]:
    body = ex.json_or_none()
    if not isinstance(body, dict):
        return None, None
    rid = body.get("id")
    return body.get("status"), rid if isinstance(rid, str) and rid else None


def _background(model: str) -> Generator[Request, Exchange, None]:
    """POST with background, then poll GET /responses/{id} until the status is no longer pending."""
    answer = yield Request({"model": model, "input": HELLO, "background": True, "store": True})
    status, rid = _status_and_id(answer)
    for delay in POLL_DELAYS_S:
        if status not in PENDING or rid is None:
            return
        polled = yield Request(method="GET", path=f"/responses/{segment(rid)}", delay_s=delay)
        status, _ = _status_and_id(polled)


def _count_then_create(model: str) -> Generator[Request, Exchange, None]:
    """Count a body's input tokens, then create a response from the very same body, to compare with its usage."""
    body = {"model": model, "instructions": COUNT_INSTRUCTIONS, "input": COUNT_INPUT}
    yield Request(body, path="/responses/input_tokens")
    yield Request(body)


def _both(field: str, values: tuple[Any, ...]) -> Any:
    """One request per value of `field`."""

    def script(model: str) -> Generator[Request, Exchange, None]:
        for value in values:
            yield Request({"model": model, "input": HELLO, field: value})

    return script


def _accepted(name: str, title: str, echo: tuple[str, ...] = (), **fields: Any) -> Probe:
    """A parameter with no effect visible from outside: served is ACCEPTED, and it should be echoed.

    `echo` names the dotted paths to compare; by default, each field sent. (Built without
    `text_input`, whose first argument is named `text`, like the `text` field.)
    """
    return Probe(
        f"parameters.{name}",
        "parameters",
        title,
        single(lambda model: Request({"model": model, "input": HELLO, **fields})),
        (*RESPONSE_CHECKS, echoes(*(echo or tuple(fields)))),
        Expect.UNOBSERVABLE,
    )


PROBES = (
    Probe(
        "parameters.background",
        "parameters",
        "`background: true`: the POST returns queued/in_progress at once, polling GET reaches completed",
        _background,
        (*RESPONSE_CHECKS, runs_in_background, echoes("background")),
    ),
    Probe(
        "parameters.include_encrypted_reasoning",
        "parameters",
        "`include: [reasoning.encrypted_content]` (effort low, store false): reasoning items carry encrypted_content",
        text_input(HELLO, include=["reasoning.encrypted_content"], reasoning={"effort": "low"}, store=False),
        (*RESPONSE_CHECKS, has_encrypted_reasoning),
    ),
    Probe(
        "parameters.include_logprobs",
        "parameters",
        "`include: [message.output_text.logprobs]`: every output_text part carries token logprobs",
        text_input(HELLO, include=["message.output_text.logprobs"]),
        (*RESPONSE_CHECKS, has_logprobs),
    ),
    Probe(
        "parameters.top_logprobs",
        "parameters",
        "`top_logprobs: 2` with the logprobs include: each token lists 1-2 alternatives, top_logprobs echoed",
        text_input(HELLO, include=["message.output_text.logprobs"], top_logprobs=2),
        (*RESPONSE_CHECKS, has_top_logprobs, echoes("top_logprobs")),
    ),
    Probe(
        "parameters.max_output_tokens",
        "parameters",
        f"`max_output_tokens: {MAX_OUTPUT_TOKENS}` on a long answer: output_tokens within it, "
        "status incomplete (reason max_output_tokens)",
        text_input(LONG_ANSWER, max_output_tokens=MAX_OUTPUT_TOKENS),
        (json_body, response_schema, usage_consistent, within_max_output_tokens, echoes("max_output_tokens")),
    ),
    Probe(
        "parameters.metadata",
        "parameters",
        "`metadata` comes back on the Response as sent",
        text_input(HELLO, metadata={"suite": "conformance", "probe": "metadata"}),
        (*RESPONSE_CHECKS, echoes_metadata),
    ),
    Probe(
        "parameters.stream_options",
        "parameters",
        "`stream_options.include_obfuscation: false` on a stream: no event carries `obfuscation` (else IGNORED)",
        text_input(HELLO, stream=True, stream_options={"include_obfuscation": False}),
        (*STREAM_CHECKS, *FINAL_CHECKS, no_obfuscation),
        Expect.UNOBSERVABLE,
    ),
    Probe(
        "parameters.prompt",
        "parameters",
        "`prompt` naming a template the suite never created: a 4xx (UNSUPPORTED); served means ignored (IGNORED)",
        text_input(HELLO, prompt={"id": "pmpt_conformance_unknown", "version": "1"}),
        (*RESPONSE_CHECKS, unknown_prompt_rejected),
    ),
    Probe(
        "parameters.truncation",
        "parameters",
        "`truncation` auto, then disabled: accepted (overflowing the context to see it act is too costly), echoed",
        _both("truncation", ("auto", "disabled")),
        (*RESPONSE_CHECKS, echoes("truncation")),
        Expect.UNOBSERVABLE,
    ),
    _accepted(
        "temperature_top_p",
        "`temperature: 0.3`, `top_p: 0.5`: accepted (sampling is not observable on one answer), echoed",
        temperature=0.3,
        top_p=0.5,
    ),
    _accepted(
        "max_tool_calls",
        "`max_tool_calls: 1`: accepted (it limits built-in tools, which are not probed), echoed",
        max_tool_calls=1,
    ),
    _accepted(
        "prompt_cache_key",
        "`prompt_cache_key`: accepted (a cache hint), echoed",
        prompt_cache_key="conformance-cache-key",
    ),
    _accepted(
        "safety_identifier",
        "`safety_identifier`: accepted (used for abuse detection only), echoed",
        safety_identifier="conformance-user-0001",
    ),
    Probe(
        "parameters.input_tokens",
        "parameters",
        "POST /responses/input_tokens counts a create body's input tokens (object response.input_tokens), "
        "close to the usage of a create with that body",
        _count_then_create,
        (*on_creates((json_body, response_schema, usage_consistent)), counts_input_tokens),
    ),
    Probe(
        "parameters.service_tier",
        "parameters",
        "`service_tier: default`: accepted, echoed as the tier used",
        single(lambda model: Request({"model": model, "input": HELLO, "service_tier": "default"})),
        (*RESPONSE_CHECKS, echoes_service_tier),
        Expect.UNOBSERVABLE,
    ),
    _accepted("user", "`user` (the deprecated end-user id): accepted, echoed", user="conformance-user-0001"),
    _accepted(
        "verbosity",
        "`text.verbosity: low`: accepted (answer length is not a reliable signal), echoed",
        echo=("text.verbosity",),
        text={"verbosity": "low"},
    ),
)
