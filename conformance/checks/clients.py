"""The "clients" column: do real client libraries work end to end? The OpenAI Agents SDK, judged by what it says.

The probe (probes/clients.py) lets the Agents SDK (`openai-agents`) run a one-tool agent to its final
answer, the SDK choosing every request; the suite's transport sends, records and replays them like
any probe's. The check runs the same agent again over the recorded answers, in memory, and reports
what the SDK raised in its own words, whether the agent ran its tool, and whether the final answer
used the tool's result. So a newer SDK re-judges old cassettes at no cost, as the sdk column does.

Both runs share `run_agent`: the SDK gets an `AsyncOpenAI` client on an httpx2 transport that hands
each request to a `serve` function and answers with the Exchange it returns; no socket is opened.
Tracing is turned off, so the SDK never tries to export anything.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx2

from conformance.checks.core import _ok
from conformance.checks.rules import Tag, quote, rule
from conformance.checks.sdk import recorded_response
from conformance.evidence import Exchange, Finding, Level

AGENT_RUNS = rule(
    "clients.agents_sdk_runs",
    Level.MUST,
    "the OpenAI Agents SDK runs a one-tool agent over the Responses API to its final answer without raising",
    home=("clients",),
)
AGENT_TOOL = rule(
    "clients.agents_sdk_tool",
    Level.MUST,
    "asked what only its tool knows, the agent runs the tool before answering",
    effect=True,
)
AGENT_ANSWER = rule(
    "clients.agents_sdk_answer",
    Level.MUST,
    "the agent's final answer uses the tool's result",
    tag=Tag.SEMANTIC,
    effect=True,
)

BASE_URL = "http://agents-sdk.invalid/v1"  # never dialled: `serve` answers every request
QUESTION = "What is the weather in Paris right now? Use the get_weather tool."
INSTRUCTIONS = "You are a weather assistant. Answer from the get_weather tool's data, in one sentence."
# A value a model cannot guess, so an answer that names it has read the tool's output.
TOOL_RESULT = json.dumps({"city": "Paris", "temperature_c": 13, "conditions": "volcanic ash"})
RESULT_WORDS = ("volcanic", "13")
MAX_TURNS = 4
AGENT_TIMEOUT_S = 120.0  # the agent's own work between requests is milliseconds; this only stops a hang

Serve = Callable[[str, str, bytes], Exchange]  # (method, path under the base URL, body) -> the answer


class ServeFailed(Exception):
    """`serve` had no answer to give (the run stopped, or the recording ran out): the agent stops here."""


@dataclass(frozen=True)
class AgentOutcome:
    """What the agent did: its final answer, or what the SDK raised; whether its tool ran; requests made."""

    final_output: str | None
    tool_ran: bool
    error: str | None
    requests: int


class _Serving(httpx2.AsyncBaseTransport):
    """Hands each request of the SDK to `serve` (in a worker thread, as it may block) and answers with its Exchange."""

    def __init__(self, serve: Serve) -> None:
        self.serve = serve
        self.requests = 0

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        self.requests += 1
        body = await request.aread()
        path = request.url.path.removeprefix(httpx2.URL(BASE_URL).path)
        exchange = await asyncio.to_thread(self.serve, request.method, path, body)
        if exchange.status is None:
            raise ServeFailed(exchange.error or "no answer")
        return recorded_response(exchange, request)


MISSING = rule(
    "harness.client_missing",
    Level.MUST,
    "the client library a clients cell runs is installed (pip install 'conformance[clients]')",
)


def sdk_missing() -> str | None:
    """Why the Agents SDK cannot run here, or None when it can."""
    try:
        import agents  # noqa: F401
    except ImportError as exc:
        return f"the OpenAI Agents SDK is not installed ({exc}): pip install 'conformance[clients]'"
    return None


def run_agent(model: str, serve: Serve, stream: bool) -> AgentOutcome:
    """Run the one-tool agent to its end, in a thread of its own with its own event loop."""
    box: list[AgentOutcome] = []

    def work() -> None:
        try:
            box.append(asyncio.run(_run(model, serve, stream)))
        except Exception as exc:  # the SDK raised outside the run itself (e.g. while building the agent)
            box.append(AgentOutcome(None, False, f"{type(exc).__name__}: {exc}", 0))

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    worker.join(AGENT_TIMEOUT_S * MAX_TURNS)
    if not box:
        return AgentOutcome(None, False, f"the agent did not finish within {AGENT_TIMEOUT_S * MAX_TURNS:.0f}s", 0)
    return box[0]


async def _run(model: str, serve: Serve, stream: bool) -> AgentOutcome:
    # Imported here: the SDK is an optional dependency, and only this column needs it.
    from agents import Agent, ItemHelpers, RunConfig, Runner, function_tool, set_tracing_disabled
    from agents.items import ToolCallOutputItem
    from agents.models.openai_responses import OpenAIResponsesModel
    from openai import AsyncOpenAI

    set_tracing_disabled(True)
    transport = _Serving(serve)
    ran: list[str] = []

    @function_tool
    def get_weather(city: str) -> str:
        """Current weather in a city."""
        ran.append(city)
        return TOOL_RESULT

    async with httpx2.AsyncClient(transport=transport) as http:
        client = AsyncOpenAI(api_key="unused", base_url=BASE_URL, http_client=http, max_retries=0)
        agent = Agent(
            name="Weather assistant",
            instructions=INSTRUCTIONS,
            tools=[get_weather],
            model=OpenAIResponsesModel(model=model, openai_client=client),
        )
        config = RunConfig(tracing_disabled=True)
        try:
            if stream:
                streamed = Runner.run_streamed(agent, QUESTION, run_config=config, max_turns=MAX_TURNS)
                async for _ in streamed.stream_events():
                    pass
                items, final = streamed.new_items, streamed.final_output
            else:
                result = await Runner.run(agent, QUESTION, run_config=config, max_turns=MAX_TURNS)
                items, final = result.new_items, result.final_output
        except Exception as exc:
            return AgentOutcome(None, bool(ran), f"{type(exc).__name__}: {exc}", transport.requests)
    tool_ran = bool(ran) or any(isinstance(item, ToolCallOutputItem) for item in items)
    text = final if isinstance(final, str) else ItemHelpers.text_message_outputs(items)
    return AgentOutcome(text, tool_ran, None, transport.requests)


def replaying(exchanges: Sequence[Exchange]) -> Serve:
    """Serve the recorded answers in order, whatever the SDK asks; past the last one, the recording ran out."""
    answers = iter(exchanges)

    def serve(method: str, path: str, body: bytes) -> Exchange:
        answer = next(answers, None)
        if answer is None:
            raise ServeFailed(f"the recording holds no answer to request {method} {path}")
        return answer

    return serve


def sent_model(exchanges: Sequence[Exchange]) -> str | None:
    body = exchanges[0].request_json() if exchanges else None
    model = body.get("model") if isinstance(body, dict) else None
    return model if isinstance(model, str) else None


def agent_outcome(exchanges: Sequence[Exchange], stream: bool) -> AgentOutcome | None:
    """The agent run again over a cell's recorded answers; None when nothing was answered."""
    model = sent_model(exchanges)
    if model is None or not _ok(exchanges):
        return None
    return run_agent(model, replaying(exchanges), stream)


def agent_works(stream: bool) -> Callable[[Sequence[Exchange]], Iterator[Finding]]:
    """The agent reaches its final answer, having run its tool, and the answer uses the tool's result."""

    def check(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
        if not exchanges and (missing := sdk_missing()) is not None:
            yield MISSING.finding(missing)
            return
        outcome = agent_outcome(exchanges, stream)
        if outcome is None:
            return
        where = f"after {outcome.requests} request(s)"
        if outcome.error is not None:
            yield AGENT_RUNS.finding(f"{where}, the Agents SDK raised {quote(outcome.error, 400)}")
            return
        if not outcome.tool_ran:
            yield AGENT_TOOL.finding(
                f"{where}, expected the agent to run get_weather first, got the final answer "
                f"{quote(outcome.final_output, 200)}"
            )
        text = outcome.final_output or ""
        if not any(word.lower() in text.lower() for word in RESULT_WORDS):
            yield AGENT_ANSWER.finding(
                f"expected the final answer to use the tool's result (mention one of {quote(list(RESULT_WORDS))}), "
                f"got {quote(text, 200)}"
            )

    check.__name__ = "agents_sdk_streamed" if stream else "agents_sdk_runs"
    return check


def request_of(method: str, path: str, body: bytes) -> dict[str, Any]:
    """What the SDK asked for, as the probe's Request takes it; a body that is not JSON is sent as it is."""
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        parsed = None
    return {"method": method, "path": path, "body": parsed, "raw": None if isinstance(parsed, dict) else body}


# The official Node SDK reads every recorded answer, as the Python SDK does for the sdk column
# (conformance/node_column.py derives these cells; conformance/node/read.mjs runs the SDK).
NODE_PARSES = rule(
    "clients.node_parses",
    Level.MUST,
    "the official openai Node SDK parses every 2xx JSON Response, and output_text/output/usage/id read without error",
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
