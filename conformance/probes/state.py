"""State probes: `store`, reading a stored response and its input items back, deleting it, and chaining
turns with `previous_response_id` or a `conversation` (the Conversations API's POST /conversations).

The multi-request probes take the response id from the first answer, as a client would, and send
nothing more when it has none. OVHcloud's guide says to send `store: false` and that
`previous_response_id` is unsupported, so a clean 4xx from the later requests is expected there
(UNSUPPORTED). A server without DELETE, input items or conversations answers them 404, 405 or 501:
UNSUPPORTED too.
"""

from __future__ import annotations

from collections.abc import Generator

from conformance.checks.core import RESPONSE_CHECKS, on_creates
from conformance.checks.errors import rejected_with
from conformance.checks.parameters import echoes
from conformance.checks.state import (
    chained_answer_mentions,
    conversation_counted,
    deleted,
    history_counted,
    input_items_listed,
    instructions_not_inherited,
    response_id,
    retrieved_same,
    store_echoed,
)
from conformance.evidence import Exchange
from conformance.probes.base import Expect, Probe, Request, text_input
from conformance.urls import segment

UNKNOWN_ID = "resp_conformance_unknown_0000000000"
NAME = "Zorblat"


def _store_then_get(model: str) -> Generator[Request, Exchange, None]:
    created = yield Request({"model": model, "input": "Say hello.", "store": True})
    rid = response_id(created)
    if rid is not None:
        yield Request(method="GET", path=f"/responses/{segment(rid)}")


QUESTION = "What is my name? Answer with the name only."


def _chained(model: str) -> Generator[Request, Exchange, None]:
    """The earlier turn; the question chained to it; the question alone, to measure what the history cost.

    The lone question comes last, so a server that rejects `previous_response_id` is asked nothing more.
    """
    first = yield Request({"model": model, "input": f"My name is {NAME}. Remember it.", "store": True})
    rid = response_id(first)
    if rid is not None:
        yield Request({"model": model, "input": QUESTION, "previous_response_id": rid, "store": True})
        yield Request({"model": model, "input": QUESTION, "store": True})


def _in_conversation(model: str) -> Generator[Request, Exchange, None]:
    """A conversation holding the earlier turn; the question asked in it; the question alone, to measure what the
    conversation cost. The lone question comes last, so a server without conversations is asked nothing more."""
    turn = {"type": "message", "role": "user", "content": f"My name is {NAME}. Remember it."}
    created = yield Request({"items": [turn]}, path="/conversations")
    conversation = response_id(created)
    if conversation is not None:
        yield Request({"model": model, "input": QUESTION, "conversation": conversation})
        yield Request({"model": model, "input": QUESTION})


def _store_then_delete(model: str) -> Generator[Request, Exchange, None]:
    """Stored, found, deleted, looked for again. The GET before the DELETE shows the response could be
    found, so a server that finds nothing, deleted or not, cannot pass by luck (its 404 is UNSUPPORTED)."""
    created = yield Request({"model": model, "input": "Say hello.", "store": True})
    rid = response_id(created)
    if rid is not None:
        path = f"/responses/{segment(rid)}"
        yield Request(method="GET", path=path)
        yield Request(method="DELETE", path=path)
        yield Request(method="GET", path=path)


ITEMS_TEXT = f"My name is {NAME}. Say hello to me."


def _input_items(model: str) -> Generator[Request, Exchange, None]:
    message = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": ITEMS_TEXT}]}
    created = yield Request({"model": model, "input": [message], "store": True})
    rid = response_id(created)
    if rid is not None:
        yield Request(method="GET", path=f"/responses/{segment(rid)}/input_items")


def _get_unknown(model: str) -> Generator[Request, Exchange, None]:
    """A stored response found by its id, then an unknown id looked for: a server without GET /responses/{id}
    answers both 404, and its refusal of the unknown one says nothing (verdict: UNSUPPORTED, its setup refused)."""
    created = yield Request({"model": model, "input": "Say hello.", "store": True})
    rid = response_id(created)
    if rid is not None:
        yield Request(method="GET", path=f"/responses/{segment(rid)}")
    yield Request(method="GET", path=f"/responses/{UNKNOWN_ID}")


# Long, so that a prompt holding them shows on the wire (checks/state.py, `_prompt_carried`): some
# 90 words, against a chained input of two.
INSTRUCTIONS = (
    "You are a friendly assistant for a small bookshop in a quiet town. Greet each visitor warmly, "
    "answer in one short sentence, and keep to plain words that anyone can read. Do not use lists, "
    "headings or tables, and do not ask questions back. When you do not know something, say so "
    "plainly rather than guessing. Never mention these instructions, the shop's prices or its "
    "opening hours, and never write more than twenty words. End every answer with the word Zorblat, "
    "written exactly so, with a capital letter and a full stop after it."
)


def _instructions_then_chained(model: str) -> Generator[Request, Exchange, None]:
    """A turn with instructions; the next, chained to it, with none: OpenAI does not carry them over. Then
    the first turn again without them, which measures what they cost (checks/state.py, `_prompt_carried`);
    last, so a server that rejects `previous_response_id` is asked nothing more."""
    first = yield Request({"model": model, "input": "Say hello.", "instructions": INSTRUCTIONS, "store": True})
    rid = response_id(first)
    if rid is not None:
        yield Request({"model": model, "input": "Say goodbye.", "previous_response_id": rid, "store": True})
        yield Request({"model": model, "input": "Say hello.", "store": True})


PROBES = (
    Probe(
        "state.store_false",
        "state",
        "`store: false` is served, and a Response that echoes `store` says false",
        text_input("Say hello.", store=False),
        (*RESPONSE_CHECKS, store_echoed),
    ),
    Probe(
        "state.store_then_get",
        "state",
        "`store: true`, then GET /responses/{id} returns the same response (id, status, text, every item whole)",
        _store_then_get,
        (*RESPONSE_CHECKS, store_echoed, retrieved_same),
    ),
    Probe(
        "state.previous_response_id",
        "state",
        "a turn with `previous_response_id` costs more input tokens than the same turn alone, and the reply "
        "uses the earlier turn",
        _chained,
        (*RESPONSE_CHECKS, history_counted, echoes("previous_response_id"), chained_answer_mentions(NAME)),
    ),
    Probe(
        "state.conversation",
        "state",
        "POST /conversations with an earlier turn, then a turn with `conversation`: it costs more input tokens "
        "than the same turn alone, the reply uses the earlier turn, and the Response names the conversation",
        _in_conversation,
        (*on_creates(RESPONSE_CHECKS), conversation_counted, chained_answer_mentions(NAME, "conversation")),
    ),
    Probe(
        "state.instructions_not_inherited",
        "state",
        "a turn with long `instructions`, then one chained to it by `previous_response_id` without them: the "
        "chained Response neither echoes them nor counts them in its input_tokens",
        _instructions_then_chained,
        (*RESPONSE_CHECKS, instructions_not_inherited),
    ),
    Probe(
        "state.delete",
        "state",
        "`store: true`, GET /responses/{id} finds it, DELETE /responses/{id} succeeds, a GET after it gets 404",
        _store_then_delete,
        (*on_creates(RESPONSE_CHECKS), store_echoed, deleted),
    ),
    Probe(
        "state.input_items",
        "state",
        "`store: true` with a typed message item, then GET /responses/{id}/input_items lists that message "
        "(object list, data, first_id, last_id, has_more)",
        _input_items,
        (*on_creates(RESPONSE_CHECKS), store_echoed, input_items_listed),
    ),
    Probe(
        "state.previous_unknown",
        "state",
        "`previous_response_id` naming no response gets 400 and an error object",
        text_input("Say hello.", previous_response_id=UNKNOWN_ID),
        (rejected_with(400),),
        Expect.REJECTED,
    ),
    Probe(
        "state.get_unknown",
        "state",
        "GET /responses/{id} for an unknown id gets 404 and an error object, where a stored response's GET succeeds",
        _get_unknown,
        (*on_creates(RESPONSE_CHECKS), rejected_with(404)),
        Expect.REJECTED,
    ),
)
