"""Streaming probes: `stream: true` must give a well-formed, incremental event stream."""

from __future__ import annotations

from conformance.checks.core import has_output_text, response_completed, response_schema, usage_consistent
from conformance.checks.identity import id_prefixes, one_model
from conformance.checks.streaming import STREAM_CHECKS
from conformance.probes.base import Probe, text_input

FINAL_CHECKS = (response_schema, response_completed, has_output_text, usage_consistent)
# The streaming column owns the stream's own identifiers: the ids it opens, and the model it names.
IDENTITY = (id_prefixes("response", "message"), one_model)

PROBES = (
    Probe(
        "streaming.text",
        "streaming",
        "a streamed text answer: SSE framing, event grammar, numbering, text agreement",
        text_input("Say hello.", stream=True),
        (*STREAM_CHECKS, *FINAL_CHECKS, *IDENTITY),
    ),
    Probe(
        "streaming.instructions",
        "streaming",
        "a streamed answer with `instructions` and a multi-turn input",
        text_input(
            [
                {"role": "user", "content": "Hi."},
                {"role": "assistant", "content": "Hello."},
                {"role": "user", "content": "Say hello again."},
            ],
            instructions="Be brief.",
            stream=True,
        ),
        (*STREAM_CHECKS, *FINAL_CHECKS, *IDENTITY),
    ),
)
