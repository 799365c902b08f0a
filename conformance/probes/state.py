"""State probes: `store`, reading a stored response back, and chaining turns with `previous_response_id`.

The multi-request probes take the response id from the first answer, as a client would. OVHcloud's
guide says to send `store: false` and that `previous_response_id` is unsupported, so a clean 4xx
from the later requests is expected there (UNSUPPORTED).
"""

from __future__ import annotations

from collections.abc import Generator

from conformance.checks.core import RESPONSE_CHECKS
from conformance.checks.errors import rejected_with
from conformance.checks.parameters import echoes
from conformance.checks.state import chained_answer_mentions, history_counted, retrieved_same, store_echoed
from conformance.evidence import Exchange
from conformance.probes.base import Expect, Probe, Request, single, text_input
from conformance.urls import segment

UNKNOWN_ID = "resp_conformance_unknown_0000000000"
NAME = "Zorblat"


def response_id(ex: Exchange) -> str | None:
    """The id of the Response an exchange created, when it has one."""
    body = ex.json_or_none()
    rid = body.get("id") if isinstance(body, dict) else None
    return rid if isinstance(rid, str) and rid else None


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
        "GET /responses/{id} for an unknown id gets 404 and an error object",
        single(lambda model: Request(method="GET", path=f"/responses/{UNKNOWN_ID}")),
        (rejected_with(404),),
        Expect.REJECTED,
    ),
)
