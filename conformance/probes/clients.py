"""Clients probes: a real client library drives a real flow, every request of it sent by the suite.

Each client (checks/clients.py: the OpenAI Agents SDK's Runner, plain and streamed; LangChain's
ChatOpenAI) runs its one-tool flow to the final answer in a thread of its own. Each request it
makes is handed to this probe's script, which yields it to the runner like any probe's request: the
live, record and replay transports, pacing, deadlines and redaction all apply, and the library gets
the Exchange back as its answer. On replay it makes the same requests from the same recorded
answers, so the cassette matches them. When the runner stops the script (a rejected request, the
deadline), the library's pending request fails and its thread ends.

The official Node SDK needs no probe: it reads the answers every probe recorded (clients_column.py).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Generator
from concurrent.futures import Future

from conformance.checks.clients import (
    AGENTS_SDK,
    AGENTS_SDK_STREAM,
    CLIENT_TIMEOUT_S,
    LANGCHAIN,
    Asked,
    Client,
    ServeFailed,
    asked,
    client_works,
    remember,
    run_client,
)
from conformance.evidence import Exchange
from conformance.probes.base import Probe, Request, Script

_DONE = None  # what the client's thread puts on the queue when its flow has finished


class _Bridge:
    """Requests go from the client's thread to the script; each comes back with a Future for its Exchange."""

    def __init__(self) -> None:
        self.pending: queue.Queue[tuple[Asked, Future[Exchange]] | None] = queue.Queue()
        self.closed = threading.Event()
        self.served: list[Exchange] = []  # the answers the client got, in order
        self.failed = False  # some request got no answer (the probe stopped, the wait ran out)

    def serve(self, method: str, path: str, body: bytes) -> Exchange:
        try:
            if self.closed.is_set():
                raise ServeFailed("the probe stopped before this request")
            answer: Future[Exchange] = Future()
            self.pending.put((asked(method, path, body), answer))
            exchange = answer.result(timeout=CLIENT_TIMEOUT_S)
        except BaseException:
            self.failed = True
            raise
        self.served.append(exchange)
        return exchange

    def close(self) -> None:
        """Fail every request still waiting, and any the client makes after this."""
        self.closed.set()
        while True:
            try:
                waiting = self.pending.get_nowait()
            except queue.Empty:
                return
            if waiting is not None:
                waiting[1].set_exception(ServeFailed("the probe stopped before this request"))


def client_script(client: Client) -> Script:
    def script(model: str) -> Generator[Request, Exchange, None]:
        from conformance.transports.deadline import excuse, time_left  # here: the transports import the probe catalog

        loading = time.perf_counter()
        missing = client.missing()
        excuse(time.perf_counter() - loading)  # loading the library is the suite's time, not the server's
        if missing is not None:
            return  # no request: the check says what is missing, and the cell is ERROR
        bridge = _Bridge()

        def work() -> None:
            outcome = run_client(client, model, bridge.serve, bridge.closed.is_set)
            ran_alone = not bridge.failed and not outcome.stopped  # over its answers alone, to its end
            if ran_alone and outcome.requests == len(bridge.served):
                remember(client, model, bridge.served, outcome)  # the check judges it from the recording
            bridge.pending.put(_DONE)

        worker = threading.Thread(target=work, daemon=True)
        worker.start()
        answer: Future[Exchange] | None = None
        try:
            while (next_one := bridge.pending.get(timeout=min(CLIENT_TIMEOUT_S, time_left()))) is not _DONE:
                request, answer = next_one
                stream = request.body is not None and request.body.get("stream") is True
                exchange = yield Request(request.body, request.method, request.path, stream, raw=request.raw)
                answer.set_result(exchange)
        except queue.Empty:
            return
        finally:
            if answer is not None and not answer.done():  # the runner stopped at this request
                answer.set_exception(ServeFailed("the probe stopped at this request"))
            bridge.close()
            worker.join(CLIENT_TIMEOUT_S)

    return script


PROBES = (
    Probe(
        "clients.agents_sdk",
        "clients",
        "the OpenAI Agents SDK runs a one-tool agent to its final answer (Runner.run), every request recorded",
        client_script(AGENTS_SDK),
        (client_works(AGENTS_SDK),),
        library=AGENTS_SDK.module,
    ),
    Probe(
        "clients.agents_sdk_stream",
        "clients",
        "the OpenAI Agents SDK runs the same agent streamed (Runner.run_streamed) to its final answer",
        client_script(AGENTS_SDK_STREAM),
        (client_works(AGENTS_SDK_STREAM),),
        library=AGENTS_SDK_STREAM.module,
    ),
    Probe(
        "clients.langchain",
        "clients",
        "LangChain's ChatOpenAI(use_responses_api=True) with a bound tool: it calls the tool, then answers from it",
        client_script(LANGCHAIN),
        (client_works(LANGCHAIN),),
        library=LANGCHAIN.module,
    ),
)
