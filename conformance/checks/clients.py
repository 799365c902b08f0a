"""The "clients" column: do real client libraries work end to end? Judged by what each client says.

A clients probe (probes/clients.py) lets a real client library run a one-tool flow to its final
answer, the library choosing every request; the suite's transport sends, records and replays them
like any probe's. The flows: the OpenAI Agents SDK (`openai-agents`) runs a one-tool agent, plain
and streamed; LangChain's `ChatOpenAI(use_responses_api=True)` with the tool bound calls it, and is
given its result. The check runs the same flow again over the recorded answers, in memory, and
reports what the library raised in its own words, whether the tool ran, and whether the final answer
used the tool's result. So a newer library re-judges old cassettes at no cost, as the sdk column does.
When the probe's own run of the flow got those very answers, each one served, the check takes that
run's outcome (`remember` / `recalled`): run again over the same answers, the flow would end the same
way, and a run costs tens of milliseconds, most of a clients cell.

Both runs share `run_client`: the library gets an httpx2 async client whose transport hands each
request to a `serve` function and answers with the Exchange it returns; no socket is opened. The
Agents SDK's tracing is turned off, and LangChain's (LangSmith) is off unless its environment turns
it on, which the suite never does.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx2

from conformance import safejson
from conformance.checks import robust
from conformance.checks.core import _ok
from conformance.checks.rules import Rule, Tag, quote, rule
from conformance.checks.sdk import recorded_response, sse_bytes
from conformance.evidence import Exchange, Finding, Level

AGENTS_SDK_RUNS = rule(
    "clients.agents_sdk_runs",
    Level.MUST,
    "the OpenAI Agents SDK runs a one-tool agent over the Responses API to its final answer without raising",
    home=("clients",),
)
LANGCHAIN_RUNS = rule(
    "clients.langchain_runs",
    Level.MUST,
    "LangChain's ChatOpenAI (use_responses_api) calls its bound tool and answers from its result without raising",
    home=("clients",),
)
TOOL_RAN = rule(
    "clients.tool_ran",
    Level.MUST,
    "asked what only its tool knows, the client's flow runs the tool before answering",
    effect=True,
)
ANSWER = rule(
    "clients.answer_uses_result",
    Level.MUST,
    "the flow's final answer uses the tool's result",
    tag=Tag.SEMANTIC,
    effect=True,
)
MISSING = rule(
    "harness.client_missing",
    Level.MUST,
    "the client library a clients cell runs is installed (pip install 'conformance[clients]')",
)

BASE_URL = "http://client.invalid/v1"  # never dialled: `serve` answers every request
QUESTION = "What is the weather in Paris right now? Use the get_weather tool."
INSTRUCTIONS = "You are a weather assistant. Answer from the get_weather tool's data, in one sentence."
TOOL_DOC = "Current weather in a city."
# A value a model cannot guess, so an answer that names it has read the tool's output.
TOOL_RESULT = json.dumps({"city": "Paris", "temperature_c": 13, "conditions": "volcanic ash"})
RESULT_WORDS = ("volcanic", "13")
MAX_TURNS = 4
CLIENT_TIMEOUT_S = 120.0  # a client's own work between requests is milliseconds; this only stops a hang
FLOW_S = 4.0  # a flow run again over recorded answers takes milliseconds; it is stopped within the judging budget

Serve = Callable[[str, str, bytes], Exchange]  # (method, path under the base URL, body) -> the answer
Stopped = Callable[[], bool]  # whether the flow is to stop: the probe ended, or its time ran out
# A flow: given the model, an HTTP client to use, and a list its tool appends to when it runs, the final text.
Flow = Callable[[str, httpx2.AsyncClient, list[str]], Awaitable[str]]


class ServeFailed(Exception):
    """`serve` had no answer to give (the run stopped, or the recording ran out): the client stops here."""


@dataclass(frozen=True)
class Client:
    """A client library's flow: how it runs, the rule for what it raised, and the module it needs."""

    name: str
    runs: Rule
    flow: Flow
    module: str

    def missing(self) -> str | None:
        """Why the library cannot run here, or None when it can."""
        try:
            __import__(self.module)
        except ImportError as exc:
            return f"{self.name} is not installed ({exc}): pip install 'conformance[clients]'"
        return None


@dataclass(frozen=True)
class ClientOutcome:
    """What the flow did: its final answer, or what the library raised; whether the tool ran; requests made;
    whether it was stopped before its end (its time ran out), which says nothing of the answers."""

    final_output: str | None
    tool_ran: bool
    error: str | None
    requests: int
    stopped: bool = False


class _Serving(httpx2.AsyncBaseTransport):
    """Hands each request to `serve` (in a worker thread, as it may block) and answers with its Exchange."""

    def __init__(self, serve: Serve, stopped: Stopped) -> None:
        self.serve = serve
        self.stopped = stopped
        self.requests = 0

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        self.requests += 1
        body = await request.aread()
        path = request.url.path.removeprefix(httpx2.URL(BASE_URL).path)
        exchange = await asyncio.to_thread(self.serve, request.method, path, body)
        if exchange.status is None:
            raise ServeFailed(exchange.error or "no answer")
        answer = recorded_response(exchange, request)
        if exchange.events is None:
            return answer
        pieces = [sse_bytes([event]) for event in exchange.events]
        return httpx2.Response(answer.status_code, headers=answer.headers, stream=_Stoppable(pieces, self.stopped))


class _Stoppable(httpx2.AsyncByteStream):
    """A stream served event by event, that fails once the flow is to stop.

    The library's own work on each event (the SDK rebuilds the Response each event carries) can take
    milliseconds: a stream of thousands, built to be costly, kept a flow busy for minutes after its
    probe or its check had given up on it.
    """

    def __init__(self, pieces: list[bytes], stopped: Stopped) -> None:
        self.pieces = pieces
        self.stopped = stopped

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self.pieces:
            if self.stopped():
                raise ServeFailed("the flow was stopped while reading this answer: its time ran out")
            yield piece


FLOWS_KEPT = 16  # outcomes waiting for their check: one per cell running, and those whose check never runs

_FLOWN: OrderedDict[tuple[int, ...], tuple[Client, str, tuple[Exchange, ...], ClientOutcome]] = OrderedDict()
_FLOWN_LOCK = threading.Lock()


def remember(client: Client, model: str, served: Sequence[Exchange], outcome: ClientOutcome) -> None:
    """The outcome of a flow that was served an answer to every request it made, kept (with the answers
    themselves, so their ids stay theirs) for the check that judges those answers."""
    with _FLOWN_LOCK:
        _FLOWN[tuple(map(id, served))] = (client, model, tuple(served), outcome)
        while len(_FLOWN) > FLOWS_KEPT:
            _FLOWN.popitem(last=False)


def recalled(client: Client, model: str, exchanges: Sequence[Exchange]) -> ClientOutcome | None:
    """The remembered outcome of this client's flow over these very exchanges (the same objects, in order)."""
    with _FLOWN_LOCK:
        kept = _FLOWN.pop(tuple(map(id, exchanges)), None)
    if kept is None:
        return None
    flown, flown_model, served, outcome = kept
    same = flown is client and flown_model == model and all(a is b for a, b in zip(served, exchanges, strict=True))
    return outcome if same else None


def run_client(client: Client, model: str, serve: Serve, stopped: Stopped) -> ClientOutcome:
    """Run the client's flow to its end, or until `stopped`, in a thread of its own with its own event loop."""
    box: list[ClientOutcome] = []

    def work() -> None:
        try:
            box.append(asyncio.run(_run(client, model, serve, stopped)))
        except Exception as exc:  # raised outside the flow itself
            box.append(ClientOutcome(None, False, f"{type(exc).__name__}: {exc}", 0))

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    worker.join(CLIENT_TIMEOUT_S * MAX_TURNS)
    if not box:
        return ClientOutcome(None, False, f"{client.name} did not finish within {CLIENT_TIMEOUT_S * MAX_TURNS:.0f}s", 0)
    return box[0]


async def _run(client: Client, model: str, serve: Serve, stopped: Stopped) -> ClientOutcome:
    transport = _Serving(serve, stopped)
    ran: list[str] = []
    async with httpx2.AsyncClient(transport=transport) as http:
        try:
            text = await client.flow(model, http, ran)
        except Exception as exc:
            return ClientOutcome(None, bool(ran), f"{type(exc).__name__}: {exc}", transport.requests, stopped())
    return ClientOutcome(text, bool(ran), None, transport.requests)


def agents_sdk(stream: bool) -> Flow:
    """The Agents SDK's Runner, plain or streamed, with one function tool."""

    async def flow(model: str, http: httpx2.AsyncClient, ran: list[str]) -> str:
        # Imported here: the library is an optional dependency, and only this column needs it.
        from agents import Agent, ItemHelpers, RunConfig, Runner, function_tool, set_tracing_disabled
        from agents.models.openai_responses import OpenAIResponsesModel
        from openai import AsyncOpenAI

        set_tracing_disabled(True)
        # The SDK logs each failed model call before raising it; the finding quotes what it raised.
        logging.getLogger("openai.agents").setLevel(logging.CRITICAL)

        @function_tool
        def get_weather(city: str) -> str:
            """Current weather in a city."""
            ran.append(city)
            return TOOL_RESULT

        openai = AsyncOpenAI(api_key="unused", base_url=BASE_URL, http_client=http, max_retries=0)
        agent = Agent(
            name="Weather assistant",
            instructions=INSTRUCTIONS,
            tools=[get_weather],
            model=OpenAIResponsesModel(model=model, openai_client=openai),
        )
        config = RunConfig(tracing_disabled=True)
        if stream:
            streamed = Runner.run_streamed(agent, QUESTION, run_config=config, max_turns=MAX_TURNS)
            async for _ in streamed.stream_events():
                pass
            items, final = streamed.new_items, streamed.final_output
        else:
            result = await Runner.run(agent, QUESTION, run_config=config, max_turns=MAX_TURNS)
            items, final = result.new_items, result.final_output
        return final if isinstance(final, str) else ItemHelpers.text_message_outputs(items)

    return flow


async def langchain(model: str, http: httpx2.AsyncClient, ran: list[str]) -> str:
    """ChatOpenAI over the Responses API with the tool bound: call it, run what it asks, send the result back."""
    from langchain_core.messages import HumanMessage, SystemMessage, ToolMessage
    from langchain_openai import ChatOpenAI
    from pydantic import SecretStr

    llm = ChatOpenAI(
        model=model,
        use_responses_api=True,
        base_url=BASE_URL,
        api_key=SecretStr("unused"),
        http_async_client=http,
        max_retries=0,
    )
    tool = {"type": "function", "name": "get_weather", "description": TOOL_DOC, "parameters": _CITY}
    bound = llm.bind_tools([tool])
    history: list[Any] = [SystemMessage(INSTRUCTIONS), HumanMessage(QUESTION)]
    for _ in range(MAX_TURNS):
        message = await bound.ainvoke(history)
        history.append(message)
        if not message.tool_calls:
            return str(message.text)
        for call in message.tool_calls:
            ran.append(str(call["args"]))
            history.append(ToolMessage(TOOL_RESULT, tool_call_id=call["id"]))
    raise RuntimeError(f"still calling tools after {MAX_TURNS} turns")


_CITY = {
    "type": "object",
    "properties": {"city": {"type": "string", "description": "a city name, e.g. Paris"}},
    "required": ["city"],
    "additionalProperties": False,
}
AGENTS_SDK = Client("the OpenAI Agents SDK", AGENTS_SDK_RUNS, agents_sdk(stream=False), "agents")
AGENTS_SDK_STREAM = Client("the OpenAI Agents SDK", AGENTS_SDK_RUNS, agents_sdk(stream=True), "agents")
LANGCHAIN = Client("LangChain's ChatOpenAI", LANGCHAIN_RUNS, langchain, "langchain_openai")


def replaying(exchanges: Sequence[Exchange]) -> Serve:
    """Serve the recorded answers in order, whatever the client asks; past the last one, the recording ran out."""
    answers = iter(exchanges)

    def serve(method: str, path: str, body: bytes) -> Exchange:
        answer = next(answers, None)
        if answer is None:
            raise ServeFailed(f"the recording holds no answer to request {method} {path}")
        return answer

    return serve


def within(seconds: float) -> Stopped:
    """Stopped once `seconds` have passed from now."""
    end = time.monotonic() + seconds
    return lambda: time.monotonic() > end


def sent_model(exchanges: Sequence[Exchange]) -> str | None:
    body = exchanges[0].request_json() if exchanges else None
    model = body.get("model") if isinstance(body, dict) else None
    return model if isinstance(model, str) else None


def client_works(client: Client) -> Callable[[Sequence[Exchange]], Iterator[Finding]]:
    """Run again over the recorded answers, the flow reaches its final answer, having run its tool, using its result."""

    def check(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
        if not exchanges and (missing := client.missing()) is not None:
            yield MISSING.finding(missing)
            return
        model = sent_model(exchanges)
        if model is None or not _ok(exchanges):
            return
        outcome = recalled(client, model, exchanges) or run_client(client, model, replaying(exchanges), within(FLOW_S))
        where = f"after {outcome.requests} request(s)"
        if outcome.stopped:
            yield robust.JUDGE_TIME.finding(f"{where}, {client.name} ran past {FLOW_S:g}s over the recorded answers")
            return
        if outcome.error is not None:
            yield client.runs.finding(f"{where}, {client.name} raised {quote(outcome.error, 400)}")
            return
        if not outcome.tool_ran:
            yield TOOL_RAN.finding(
                f"{where}, expected {client.name} to run get_weather first, got the final answer "
                f"{quote(outcome.final_output, 200)}"
            )
        text = outcome.final_output or ""
        if not any(word.lower() in text.lower() for word in RESULT_WORDS):
            yield ANSWER.finding(
                f"expected the final answer to use the tool's result (mention one of {quote(list(RESULT_WORDS))}), "
                f"got {quote(text, 200)}"
            )

    check.__name__ = f"{client.runs.id.split('.', 1)[1].removesuffix('_runs')}_works"
    return check


@dataclass(frozen=True)
class Asked:
    """A request a client made, as the probe's Request takes it: a JSON object body, or else the raw bytes."""

    method: str
    path: str
    body: dict[str, Any] | None
    raw: bytes | None


def asked(method: str, path: str, body: bytes) -> Asked:
    try:
        parsed = safejson.loads(body) if body else None
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        return Asked(method, path, parsed, None)
    return Asked(method, path, None, body or None)


# The official Node SDK reads every recorded answer, as the Python SDK does for the sdk column
# (conformance/node_column.py derives these cells; conformance/node/read.mjs runs the SDK).
NODE_PARSES = rule(
    "clients.node_parses",
    Level.MUST,
    "the official openai Node SDK parses every 2xx JSON Response, and output_text/output/usage/id read without error "
    "(and a list of input items, and the type of each; and a token count's input_tokens)",
    home=("clients",),
)
NODE_STREAMS = rule(
    "clients.node_streams",
    Level.MUST,
    "the official openai Node SDK's ResponseStream consumes every 2xx event stream to its final response",
    home=("clients",),
)
NODE_COVERAGE = rule("clients.node_coverage", Level.INFO, "how many recorded answers the Node SDK read")
NODE_UNAVAILABLE = rule(
    "clients.node_unavailable",
    Level.INFO,
    "node and the openai npm package are installed (npm ci --prefix conformance/node), so the Node cells can run",
)
