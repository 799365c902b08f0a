"""The parsed view of an exchange, the scopes checks declare, and the stream model's family table.

Exchanges here are hand-made fixtures (tests/exchanges.py), not recordings.
"""

from __future__ import annotations

import pytest

from conformance.checks import reasoning, streaming, tools
from conformance.checks.stream_model import BY_EVENT, FAMILIES, stream_of, walk
from conformance.checks.view import Scope, view
from conformance.schemas import known_event_types
from tests.exchanges import conformant_response, conformant_stream, error_exchange, json_exchange, stream_exchange


def test_an_exchange_is_parsed_once_however_many_checks_read_it() -> None:
    ex = stream_exchange(conformant_stream())
    assert view(ex) is view(ex)
    assert stream_of(view(ex)) is stream_of(view(ex))
    assert view(ex).response == conformant_stream()[-1]["response"]


def test_equal_exchanges_keep_their_own_views() -> None:
    """The cache is by identity: two equal recordings are two pieces of evidence."""
    first, second = json_exchange(conformant_response()), json_exchange(conformant_response())
    assert view(first) is not view(second)


@pytest.mark.parametrize(
    ("scope", "picked"),
    [(Scope.FIRST_OK, [1]), (Scope.LAST_OK, [2]), (Scope.EVERY_OK, [1, 2]), (Scope.EVERY, [0, 1, 2])],
)
def test_a_scope_picks_the_exchanges_it_names(scope: Scope, picked: list[int]) -> None:
    exchanges = [error_exchange(400), json_exchange(conformant_response("one")), json_exchange(conformant_response())]
    assert [v.exchange for v in scope.pick(exchanges)] == [exchanges[i] for i in picked]


def test_checks_on_the_shared_stream_model_declare_their_scope() -> None:
    shared = (
        *streaming.STREAM_CHECKS,
        tools.streamed_calls,
        reasoning.reasoning_stream,
        reasoning.reasoning_closed_first,
    )
    assert {getattr(check, "scope", None) for check in shared} == {Scope.EVERY_OK}


def test_every_event_of_the_family_table_is_an_sdk_stream_event() -> None:
    assert set(BY_EVENT) <= known_event_types()
    assert len({family.name for family in FAMILIES}) == len(FAMILIES)


def test_the_walk_keeps_what_each_item_was_built_from() -> None:
    stream = walk(view(stream_exchange(conformant_stream(("Hel", "lo.")))).events)
    (item,) = stream.in_order()
    run = item.run("output_text")
    assert run is not None and run.deltas == ["Hel", "lo."] and run.done == "Hello."
    assert (item.opened_at, item.closed_at) == (2, 8)
    assert not (stream.grammar or stream.indices or stream.text or stream.unclosed)
