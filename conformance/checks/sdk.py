"""Does the official `openai` SDK consume what the server answered? Judged from the recorded bytes.

The SDK gets an in-memory httpx2 transport that answers its request with the exchange's recorded
status, headers and body (a stream re-serialised from its events as `event:` / `data:` lines), so
the check opens no socket and costs no request, and a newer SDK re-judges old cassettes.

A JSON answer goes through `client.responses.create(...)` (or `.retrieve(id)` for a GET), and the
check reads what users read: `output_text`, `output`, `usage`, `id`. A GET of a response's input
items goes through `client.responses.input_items.list(id)`, and each item of the page's `data` is
read; its pages are not walked (every request gets the one recorded answer, so they would never end).
A token count (POST /responses/input_tokens) goes through `client.responses.input_tokens.count(...)`, and
its `input_tokens` and `object` are read: it is no Response.
A stream goes through `client.responses.stream(...)`, the SDK's accumulator: every event is iterated and
`get_final_response()` is called, unless the stream ended with `response.failed|incomplete`, where
the SDK has no final response by design. Any exception raised once the recorded answer was served
is a finding quoting it. A call the SDK refuses before sending (a chat-shaped tool, a missing
`input`) says nothing about the server and is skipped, as are 4xx/5xx answers: raising
`APIStatusError` on them is the SDK working.

The guide checks (checks/guide.py) run the provider guide's own code through the same `RecordedSDK`.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import itertools
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

import httpx2
from openai import OpenAI  # already loaded by conformance.schemas (the SDK's types), so this costs nothing

from conformance.checks.core import route
from conformance.checks.rules import Rule, quote, rule
from conformance.evidence import Exchange, Level, SSEEvent

PARSES = rule(
    "sdk.parses",
    Level.MUST,
    "the official openai SDK parses every 2xx JSON Response, and output_text/output/usage/id read without error "
    "(and a list of input items, and the type of each; and a token count's input_tokens)",
    home=("sdk",),
)
STREAMS = rule(
    "sdk.streams",
    Level.MUST,
    "the official openai SDK's stream accumulator consumes every 2xx event stream to its final response",
    home=("sdk",),
)

COVERAGE = rule("sdk.coverage", Level.INFO, "how many recorded answers the SDK read for a derived sdk cell")

BASE_URL = "http://recorded.invalid/v1"  # never dialled: the transport answers from the recording
TOUCHED = ("output_text", "output", "usage", "id")  # what users read off a Response
ITEM_TOUCHED = ("type", "id")  # what users read off a listed input item
COUNT_TOUCHED = ("input_tokens", "object")  # what users read off a token count
NO_FINAL = ("response.failed", "response.incomplete")  # the SDK's accumulator has no final response after these
_FRAMING = frozenset({"content-length", "content-encoding", "transfer-encoding"})  # the served bytes are decoded
_NOT_PARAMS = frozenset(
    {"extra_headers", "extra_query", "extra_body", "timeout", "text_format", "response_id", "starting_after"}
)

T = TypeVar("T")
# A use of the SDK: yields a label before each step it takes, so a failure names its step; returns its result.
Steps = Generator[str, None, T]
Use = Callable[[OpenAI], Steps[None]]


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """What happened when the SDK met a recorded answer.

    `sent` is False when the SDK raised before asking for the answer (it refused the call as made);
    otherwise `error` ("Type: message") and `step` say what raised, or `value` is what the use returned.
    """

    sent: bool
    value: T | None = None
    step: str | None = None
    error: str | None = None


class _Recorded(httpx2.BaseTransport):
    """Answers any request with the exchange it holds, and notes that it was asked."""

    def __init__(self) -> None:
        self.exchange: Exchange | None = None
        self.served = False

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        ex = self.exchange
        if ex is None or ex.status is None:
            raise RuntimeError("no recorded answer to serve")
        self.served = True
        return recorded_response(ex, request)


def recorded_response(ex: Exchange, request: httpx2.Request) -> httpx2.Response:
    """The exchange's answer as a client reads it off the wire; it must have a status."""
    assert ex.status is not None
    headers = {k: v for k, v in ex.headers.items() if k.lower() not in _FRAMING}
    content = sse_bytes(ex.events) if ex.events is not None else ex.body.encode("utf-8")
    return httpx2.Response(ex.status, headers=headers, content=content, request=request)


def sse_bytes(events: Sequence[SSEEvent]) -> bytes:
    """The events as an event stream again: what the SDK's SSE decoder reads off the wire.

    An event without data that has another field to end it is written without a `data:` line, as the
    block of `event:`, `id:` or `retry:` lines it most likely was (conformance/sse.py keeps those), so
    each SDK dispatches it only where its own decoder does: the Node SDK does not for `id:` or `retry:`.
    """
    lines: list[str] = []
    for event in events:
        fields = len(lines)
        if event.event is not None:
            lines.append(f"event: {event.event}")
        if event.id is not None:
            lines.append(f"id: {event.id}")
        if event.retry is not None:
            lines.append(f"retry: {event.retry}")
        if event.data or len(lines) == fields:
            lines.extend(f"data: {line}" for line in event.data.split("\n"))
        lines.append("")
    return "\n".join([*lines, ""]).encode("utf-8")


class RecordedSDK:
    """An `OpenAI` client whose every request is answered by one recorded exchange; build once, run many."""

    def __init__(self) -> None:
        self._transport = _Recorded()
        self._http = httpx2.Client(transport=self._transport)
        self.client = OpenAI(api_key="recorded", base_url=BASE_URL, http_client=self._http, max_retries=0)

    def run(self, exchange: Exchange, use: Callable[[OpenAI], Steps[T]]) -> Outcome[T]:
        self._transport.exchange, self._transport.served = exchange, False
        steps = use(self.client)
        step = "calling the SDK"
        try:
            while True:
                step = next(steps)
        except StopIteration as done:
            return Outcome(sent=True, value=done.value)
        except Exception as exc:
            if not self._transport.served:
                return Outcome(sent=False)
            return Outcome(sent=True, step=step, error=f"{type(exc).__name__}: {exc}")
        finally:
            steps.close()

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def sdk_kwargs(body: dict[str, Any], method: Callable[..., Any]) -> dict[str, Any]:
    """The request body as a user passes it to `method`: known parameters as keywords, the rest in extra_body."""
    params = _params(getattr(method, "__func__", method))
    known = {k: v for k, v in body.items() if k in params}
    rest = {k: v for k, v in body.items() if k not in params}
    return {**known, "extra_body": rest} if rest else known


@functools.lru_cache(maxsize=64)
def _params(function: Callable[..., Any]) -> frozenset[str]:
    """A method's parameter names, read once: the signature does not change, and reading it is not free."""
    return frozenset(inspect.signature(function).parameters) - _NOT_PARAMS


def touch(response: Any, prefix: str = "response", names: tuple[str, ...] = TOUCHED) -> Iterator[str]:
    """Read what users read off a Response (or `names` off another object), one labelled step each."""
    for name in names:
        yield f"{prefix}.{name}"
        getattr(response, name)


def parse(body: dict[str, Any]) -> Use:
    """`create`'s answer is read the same whatever its keywords (it is cast to Response), so the body goes
    as extra_body: as keywords, the SDK would spend about a third of the read transforming them."""

    def use(client: OpenAI) -> Steps[None]:
        yield "client.responses.create(...)"
        stream = {"stream": body["stream"]} if "stream" in body else {}
        rest = {k: v for k, v in body.items() if k != "stream"}
        response = client.responses.create(**stream, extra_body=rest)
        yield from touch(response)

    return use


def retrieve(response_id: str) -> Use:
    def use(client: OpenAI) -> Steps[None]:
        yield f"client.responses.retrieve({response_id!r})"
        response = client.responses.retrieve(response_id)
        yield from touch(response)

    return use


def input_items(response_id: str) -> Use:
    def use(client: OpenAI) -> Steps[None]:
        yield f"client.responses.input_items.list({response_id!r})"
        page = client.responses.input_items.list(response_id)
        yield "page.data"
        for index, item in enumerate(page.data):
            yield from touch(item, f"page.data[{index}]", ITEM_TOUCHED)
        yield "page.has_next_page()"
        page.has_next_page()

    return use


def count_tokens(body: dict[str, Any]) -> Use:
    def use(client: OpenAI) -> Steps[None]:
        yield "client.responses.input_tokens.count(...)"
        count = client.responses.input_tokens.count(extra_body=body)
        yield from touch(count, "count", COUNT_TOUCHED)

    return use


def accumulate(body: dict[str, Any]) -> Use:
    def use(client: OpenAI) -> Steps[None]:
        params = {k: v for k, v in body.items() if k != "stream"}
        yield "client.responses.stream(...)"
        with client.responses.stream(**sdk_kwargs(params, client.responses.stream)) as stream:
            events, last = iter(stream), None
            for count in itertools.count():
                yield f"iterating the stream (after {count} SDK events)"
                event = next(events, None)
                if event is None:
                    break
                last = event.type
            if last in NO_FINAL:
                return
            yield "stream.get_final_response()"
            final = stream.get_final_response()
            yield from touch(final, "final response")

    return use


def sdk_use(ex: Exchange) -> tuple[Rule, Use] | None:
    """The SDK call a user's code makes for this request, and the rule judging it; None when no call makes it."""
    asked = route(ex)
    if asked.kind == "input_items":
        return PARSES, input_items(asked.response_id)
    if asked.kind == "retrieve":
        return PARSES, retrieve(asked.response_id)
    body = ex.request_json()
    if asked.kind not in ("create", "count") or not isinstance(body, dict):
        return None
    if asked.kind == "count":
        return PARSES, count_tokens(body)
    return (STREAMS, accumulate(body)) if body.get("stream") is True else (PARSES, parse(body))


def answered(ex: Exchange) -> bool:
    """A 2xx answer that arrived whole: one cut short by the harness (deadline, size cap) is not the server's."""
    return ex.error is None and ex.status is not None and 200 <= ex.status < 300


def served(ex: Exchange) -> str:
    """The answer as a finding names it."""
    return f"a {ex.status} {ex.content_type or 'without content-type'} answer"


@dataclass(frozen=True)
class Read:
    """One 2xx answer that an SDK call makes: its place among the exchanges, its rule, what the SDK did."""

    number: int
    exchange: Exchange
    rule: Rule
    outcome: Outcome[None]


def sdk_reads(exchanges: Sequence[Exchange], sdk: RecordedSDK | None = None) -> Iterator[Read]:
    """Feed each 2xx answer to the SDK as the user's code would have asked for it; skip calls the SDK refuses.

    Pass `sdk` to read many cells' answers through one client (it holds no state between answers).
    """
    uses = [(n, ex, call) for n, ex in enumerate(exchanges, 1) if answered(ex) and (call := sdk_use(ex)) is not None]
    if not uses:
        return
    with contextlib.ExitStack() as owned:
        reader = sdk if sdk is not None else owned.enter_context(RecordedSDK())
        for number, ex, (judged_by, use) in uses:
            outcome: Outcome[None] = reader.run(ex, use)
            if outcome.sent:
                yield Read(number, ex, judged_by, outcome)


def complaint(read: Read) -> str | None:
    """What the SDK raised on the answer, and at which step; None when it read the answer cleanly."""
    if read.outcome.error is None:
        return None
    return f"{read.outcome.step} raised {quote(read.outcome.error, 300)} on {served(read.exchange)}"
