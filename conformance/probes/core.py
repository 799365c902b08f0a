"""Core probes: the ways of giving a model its input, and the JSON (non-streamed) answer."""

from __future__ import annotations

from conformance.checks.core import RESPONSE_CHECKS, answer_mentions, echoes_instructions
from conformance.checks.identity import id_prefixes
from conformance.probes.base import Probe, text_input

# The core column owns the Response and its messages, so it judges their ids.
CORE_CHECKS = (*RESPONSE_CHECKS, id_prefixes("response", "message"))

FRUIT_RULE = "Whatever the user says, answer with the single word PINEAPPLE and nothing else."
FRUIT_QUESTION = "Which fruit do you like best?"


def _message(role: str, text: str) -> dict[str, object]:
    return {"type": "message", "role": role, "content": [{"type": "input_text", "text": text}]}


PROBES = (
    Probe("core.text_input", "core", "`input` as a plain string", text_input("Say hello."), CORE_CHECKS),
    Probe(
        "core.input_items",
        "core",
        "`input` as a list of typed message items with input_text parts",
        text_input([_message("user", "Say hello.")]),
        CORE_CHECKS,
    ),
    Probe(
        "core.multi_turn",
        "core",
        "multi-turn `input` list: user, assistant, user; the answer uses the first turn",
        text_input(
            [
                {"role": "user", "content": "My name is Zorblat. Remember it."},
                {"role": "assistant", "content": "Nice to meet you, Zorblat."},
                {"role": "user", "content": "What is my name? Answer with the name only."},
            ]
        ),
        (*CORE_CHECKS, answer_mentions("Zorblat")),
    ),
    Probe(
        "core.instructions",
        "core",
        "`instructions` steer the answer and are echoed in the Response",
        text_input(FRUIT_QUESTION, instructions=FRUIT_RULE),
        (*CORE_CHECKS, echoes_instructions, answer_mentions("pineapple")),
    ),
    Probe(
        "core.system_role",
        "core",
        "a `role: system` input item steers the answer",
        text_input([{"role": "system", "content": FRUIT_RULE}, {"role": "user", "content": FRUIT_QUESTION}]),
        (*CORE_CHECKS, answer_mentions("pineapple")),
    ),
    Probe(
        "core.developer_role",
        "core",
        "a `role: developer` input item steers the answer",
        text_input([_message("developer", FRUIT_RULE), _message("user", FRUIT_QUESTION)]),
        (*CORE_CHECKS, answer_mentions("pineapple")),
    ),
    Probe(
        "core.stream_false",
        "core",
        "`stream: false` gives one JSON body, as omitting `stream` does",
        text_input("Say hello.", stream=False),
        CORE_CHECKS,
    ),
)
