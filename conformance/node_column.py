"""The Node cells of the "clients" column: can the official openai Node SDK read what a model answered?

Derived when rendering, like the sdk column (sdk_column.py), from results.jsonl: every recorded 2xx
answer to a Responses call is handed to `node conformance/node/read.mjs`, which makes the call a Node
user makes (`responses.create`, `responses.stream` to `finalResponse()`, `responses.retrieve`,
`responses.inputItems.list`, `responses.inputTokens.count`) with
a `fetch` that returns the recorded answer, and says what the SDK raised. One node process reads every
answer of a render, so the column costs no request and one process start; a catalog run keeps one
(`NodeReader`) to read each model's answers as the model ends. Two cells per (provider, model):
`clients.node_parses` and `clients.node_streams`.

Node and the package are installed with `npm ci --prefix conformance/node` (CI does it). Without them
the cells are NOT RUN, and say why. The package is pinned to openai 6.x: 7.x needs Node 22, and these
machines have Node 20.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

from conformance import safejson
from conformance.checks.clients import NODE_COVERAGE, NODE_PARSES, NODE_STREAMS, NODE_UNAVAILABLE
from conformance.checks.core import route
from conformance.checks.rules import Rule, quote
from conformance.checks.sdk import STREAMS, answered, sdk_use, served, sse_bytes
from conformance.evidence import Exchange, Status
from conformance.records import MatrixCell, ResultLine
from conformance.sdk_column import FEATURE as SDK_FEATURE
from conformance.sdk_column import (
    Said,
    answer_label,
    derived_base,
    derived_cell,
    derived_line,
    exchange_of,
    models_of,
    tallied,
)

FEATURE = "clients"
NODE_DIR = Path(__file__).parent / "node"
SCRIPT = NODE_DIR / "read.mjs"
TIMEOUT_S = 300.0
CELLS = (
    (NODE_PARSES, "the official openai Node SDK parses every recorded 2xx JSON answer of the model", "JSON answer"),
    (NODE_STREAMS, "the official openai Node SDK's ResponseStream consumes every recorded 2xx stream", "stream"),
)
DERIVED = frozenset(rule.id for rule, _, _ in CELLS)
_FRAMING = frozenset({"content-length", "content-encoding", "transfer-encoding"})  # the served bytes are decoded
NODE_DEPTH = 2 * safejson.MAX_DEPTH  # node's results wrap each answer (itself at most MAX_DEPTH deep) in a few levels


@dataclass(frozen=True)
class Answer:
    """One recorded answer for the Node SDK: the cell that holds it, and the call a Node user makes for it."""

    label: str
    rule: Rule
    call: dict[str, Any]
    served: str  # the answer as a finding names it


def node_call(ex: Exchange) -> tuple[Rule, dict[str, Any]] | None:
    """The Node SDK call for a 2xx answer, as read.mjs takes it; None when no SDK call makes this request."""
    use = sdk_use(ex) if answered(ex) else None
    if use is None or ex.status is None:
        return None
    rule = NODE_STREAMS if use[0] is STREAMS else NODE_PARSES
    body = ex.request_json()
    headers = {k: v for k, v in ex.headers.items() if k.lower() not in _FRAMING}
    content = sse_bytes(ex.events).decode("utf-8") if ex.events is not None else ex.body
    call: dict[str, Any] = {"status": ex.status, "headers": headers, "body": content}
    asked = route(ex)
    if asked.kind in ("retrieve", "input_items"):
        return rule, {**call, "kind": asked.kind, "response_id": asked.response_id}
    params = {k: v for k, v in body.items() if k != "stream"}
    if asked.kind == "count":
        return rule, {**call, "kind": "input_tokens", "params": params}
    return rule, {**call, "kind": "stream" if rule is NODE_STREAMS else "parse", "params": params}


def node_unavailable() -> str | None:
    """Why node cannot read answers here, or None when it can."""
    if shutil.which("node") is None:
        return "node is not on PATH"
    if not (NODE_DIR / "node_modules" / "openai" / "package.json").is_file():
        return f"the openai npm package is not installed: npm ci --prefix {NODE_DIR}"
    return None


Reader = Callable[[Sequence[dict[str, Any]]], list[dict[str, Any]] | str]
Asker = Callable[[Sequence[dict[str, Any]]], Callable[[], list[dict[str, Any]] | str]]  # hands over now, waits later


def read_with_node(calls: Sequence[dict[str, Any]]) -> list[dict[str, Any]] | str:
    """What the Node SDK made of each call, in order; or one line saying why node could not run."""
    missing = node_unavailable()
    if missing is not None:
        return missing
    return _run_node(_batch(calls), len(calls))


def _batch(calls: Sequence[dict[str, Any]]) -> str:
    return json.dumps({"answers": [{**call, "id": i} for i, call in enumerate(calls)]})


def _env() -> dict[str, str]:
    """Node's environment: PATH alone of ours, so no key reaches node."""
    return {"PATH": os.environ.get("PATH", ""), "NODE_NO_WARNINGS": "1"}


def _results(text: str, count: int, returncode: int | None, stderr: str) -> list[dict[str, Any]] | str:
    try:
        results = safejson.loads(text, max_depth=NODE_DEPTH)
    except ValueError:
        return f"node exited {returncode} without results: {quote(stderr.strip(), 300)}"
    if not isinstance(results, list) or len(results) != count:
        return f"node answered {quote(results)} for {count} calls"
    return results


class NodeReader:
    """One node process kept for many batches, read a line at a time; a batch that finds it gone starts another."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[str] | None = None
        self._errors: IO[str] | None = None
        self._missing: str | None = None  # why node cannot run ("" when it can), looked up once

    def __call__(self, calls: Sequence[dict[str, Any]]) -> list[dict[str, Any]] | str:
        return self.ask(calls)()

    def ask(self, calls: Sequence[dict[str, Any]]) -> Callable[[], list[dict[str, Any]] | str]:
        """Send the batch now; the function returned waits for node's answer, so the caller works meanwhile."""
        if self._missing is None:
            self._missing = node_unavailable() or ""
        if self._missing:
            return functools.partial(str, self._missing)
        try:
            process = self._running()
        except OSError as exc:
            return functools.partial(str, f"node did not run: {type(exc).__name__}: {exc}")
        assert process.stdin is not None
        try:
            process.stdin.write(_batch(calls) + "\n")
            process.stdin.flush()
        except OSError:  # node is gone: said with what it wrote to stderr
            return functools.partial(self._gone, process, len(calls))
        return functools.partial(self._answer, process, len(calls))

    def _answer(self, process: subprocess.Popen[str], count: int) -> list[dict[str, Any]] | str:
        assert process.stdout is not None
        timer = threading.Timer(TIMEOUT_S, process.kill)  # a hung node is killed: its line then comes back empty
        timer.start()
        try:
            line = process.stdout.readline()
        except OSError:
            line = ""
        finally:
            timer.cancel()
        return _results(line, count, None, "") if line else self._gone(process, count)

    def _gone(self, process: subprocess.Popen[str], count: int) -> str | list[dict[str, Any]]:
        code, errors = process.wait(), self._stderr()
        self.close()
        return _results("", count, code, errors)

    def _running(self) -> subprocess.Popen[str]:
        if self._process is None or self._process.poll() is not None:
            self.close()
            self._errors = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115 - lives as long as node
            self._process = subprocess.Popen(
                ["node", str(SCRIPT)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._errors,
                text=True,
                encoding="utf-8",
                cwd=NODE_DIR,
                env=_env(),
            )
        return self._process

    def _stderr(self) -> str:
        if self._errors is None:
            return ""
        self._errors.seek(0)
        return self._errors.read(2000)

    def close(self) -> None:
        """Ends node (its input closed, then killed if it lingers) and forgets it."""
        process, self._process = self._process, None
        if process is not None:
            if process.stdin is not None:
                with contextlib.suppress(OSError):
                    process.stdin.close()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()
        if self._errors is not None:
            self._errors.close()
            self._errors = None


@lru_cache(maxsize=4)
def _run_node(payload: str, count: int) -> list[dict[str, Any]] | str:
    """One node process over `payload`; cached, as a report is often rendered again from the same results."""
    try:
        done = subprocess.run(
            ["node", str(SCRIPT)],
            input=payload,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            cwd=NODE_DIR,
            env=_env(),
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"node did not run: {type(exc).__name__}: {exc}"
    return _results(done.stdout, count, done.returncode, done.stderr)


def is_derived(record: ResultLine | MatrixCell) -> bool:
    """A cell made when rendering from the other cells' answers (the sdk column, the Node cells), not by a probe."""
    return record.feature == SDK_FEATURE or record.probe in DERIVED


def node_records(records: Iterable[ResultLine], read: Reader = read_with_node) -> list[ResultLine]:
    """Two Node cells per (provider, model) among `records`, all their answers read in one batch."""
    models = models_of(records, read=lambda record: not is_derived(record))
    said = node_said([cell for _, cells in models for cell in cells], read)
    per_cell = iter(() if isinstance(said, str) else said)
    out: list[ResultLine] = []
    for key, cells in models:
        mine = said if isinstance(said, str) else [next(per_cell) for _ in cells]
        out += node_model_records(*key, cells, mine)
    return out


def node_said(cells: Sequence[ResultLine], read: Reader) -> list[list[Said]] | str:
    """What the Node SDK made of each cell's answers (per cell, in order), read in one batch; or why node could not."""
    return node_asked(cells, lambda calls: functools.partial(read, calls))()


def node_asked(cells: Sequence[ResultLine], ask: Asker) -> Callable[[], list[list[Said]] | str]:
    """`node_said`, in two steps: the cells' answers are handed to node (`ask`, e.g. `NodeReader.ask`) now,
    and the function returned waits for what it made of them."""
    answers: list[list[Answer]] = []
    for cell in cells:
        exchanges = [exchange_of(e) for e in cell.exchanges]
        answers.append(
            [
                Answer(answer_label(cell, number, len(exchanges)), made[0], made[1], served(ex))
                for number, ex in enumerate(exchanges, 1)
                if (made := node_call(ex)) is not None
            ]
        )
    flat = [a for mine in answers for a in mine]
    pending = ask([a.call for a in flat]) if flat else list

    def said() -> list[list[Said]] | str:
        results = pending()
        if isinstance(results, str):
            return results
        outcomes = iter(results)
        out: list[list[Said]] = []
        for mine in answers:
            out.append([])
            for answer in mine:
                outcome = next(outcomes)
                if not isinstance(outcome, dict) or not outcome.get("sent"):
                    continue  # the SDK refused the call before asking: nothing said of the server
                error = outcome.get("error")
                what = None if error is None else f"{outcome.get('step')} raised {quote(_gist(str(error)))}"
                out[-1].append(Said(answer.rule.id, what and f"{what} on {answer.served}", answer.label))
        return out

    return said


def node_model_records(
    provider: str, model: str, cells: Sequence[ResultLine], said: Sequence[Sequence[Said]] | str
) -> list[ResultLine]:
    """The model's two Node cells, from what node made of each cell's answers, or NOT RUN saying why it could not."""
    tallies = tallied([] if isinstance(said, str) else said, (rule.id for rule, _, _ in CELLS))
    base = derived_base(provider, model, cells, FEATURE)
    out: list[ResultLine] = []
    for rule, title, what in CELLS:
        cell = derived_cell(rule, title, what, tallies[rule.id], model, FEATURE, NODE_COVERAGE, "the Node SDK")
        if isinstance(said, str):
            cell["status"] = Status.NOT_RUN.value
            cell["findings"] = [NODE_UNAVAILABLE.finding(said).to_json()]
        out.append(derived_line(base, cell))
    return out


def _gist(error: str) -> str:
    """The error without the payload Node's messages often quote, so answers that broke alike group together."""
    head, brace, _ = error.partition("{")
    return head + "{...}" if brace else error
