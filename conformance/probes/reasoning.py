"""Reasoning probes: `reasoning.effort` and `reasoning.summary`, JSON and streamed.

The question does not ask the model to think, so any reasoning seen comes from the parameter. Every
probe also looks for reasoning leaking into the answer text, the most common fault of servers that
do not parse a model's reasoning out of its output.
"""

from __future__ import annotations

from conformance.checks.core import RESPONSE_CHECKS
from conformance.checks.identity import id_prefixes
from conformance.checks.parameters import echoes
from conformance.checks.reasoning import (
    has_reasoning_item,
    has_summary,
    no_reasoning,
    no_reasoning_leak,
    reasoning_closed_first,
    reasoning_stream,
    reasoning_tokens,
)
from conformance.checks.streaming import STREAM_CHECKS
from conformance.probes.base import Probe, text_input
from conformance.probes.streaming import FINAL_CHECKS

QUESTION = "Is 91 a prime number? Answer yes or no."
THINK_QUESTION = "Think it through step by step: is 91 a prime number? Answer yes or no."

REASONED = (
    has_reasoning_item,
    no_reasoning_leak,
    reasoning_tokens,
    echoes("reasoning.effort"),
    id_prefixes("reasoning"),
)


def _effort(level: str) -> Probe:
    return Probe(
        f"reasoning.effort_{level}",
        "reasoning",
        f"`reasoning.effort: {level}`: a reasoning item comes back, counted in reasoning_tokens, not in the answer",
        text_input(QUESTION, reasoning={"effort": level}),
        (*RESPONSE_CHECKS, *REASONED),
    )


def _summary(kind: str) -> Probe:
    return Probe(
        f"reasoning.summary_{kind}",
        "reasoning",
        f"`reasoning.summary: {kind}` (effort medium): reasoning items carry summary_text parts",
        text_input(QUESTION, reasoning={"effort": "medium", "summary": kind}),
        (*RESPONSE_CHECKS, *REASONED, has_summary, echoes("reasoning.summary")),
    )


PROBES = (
    Probe(
        "reasoning.effort_minimal",
        "reasoning",
        "`reasoning.effort: minimal`: accepted and echoed; any reasoning is counted and stays out of the answer",
        text_input(QUESTION, reasoning={"effort": "minimal"}),
        # minimal asks for as little reasoning as the model can do, which may be none: no item is required
        (*RESPONSE_CHECKS, no_reasoning_leak, reasoning_tokens, echoes("reasoning.effort"), id_prefixes("reasoning")),
    ),
    *(_effort(level) for level in ("low", "medium", "high", "xhigh")),
    Probe(
        "reasoning.effort_none",
        "reasoning",
        "`reasoning.effort: none`: no reasoning text in the output, reasoning_tokens 0",
        text_input(QUESTION, reasoning={"effort": "none"}),
        (*RESPONSE_CHECKS, no_reasoning, no_reasoning_leak, echoes("reasoning.effort")),
    ),
    *(_summary(kind) for kind in ("auto", "concise", "detailed")),
    Probe(
        "reasoning.stream",
        "reasoning",
        "streamed `reasoning.effort: high`: reasoning_text.delta then .done, item closed before the answer opens",
        text_input(QUESTION, reasoning={"effort": "high"}, stream=True),
        (*STREAM_CHECKS, *FINAL_CHECKS, *REASONED, reasoning_stream, reasoning_closed_first),
    ),
    Probe(
        "reasoning.unprompted",
        "reasoning",
        "no reasoning parameter, a question that asks to think: any reasoning stays out of output_text",
        text_input(THINK_QUESTION),
        (*RESPONSE_CHECKS, no_reasoning_leak, reasoning_tokens),
    ),
)
