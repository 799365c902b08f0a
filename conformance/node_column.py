"""The Node cells of the "clients" column: can the official openai Node SDK read what a model answered?

Derived when rendering, like the sdk column (sdk_column.py), from results.jsonl: every recorded 2xx
answer to a Responses call is handed to `node conformance/node/read.mjs`, which makes the call a Node
user makes (`responses.create`, `responses.stream` to `finalResponse()`, `responses.retrieve`) with
a `fetch` that returns the recorded answer, and says what the SDK raised. One node process reads every
answer of a render, so the column costs no request and one process start. Two cells per (provider,
model): `clients.node_parses` and `clients.node_streams`.

Node and the package are installed with `npm ci --prefix conformance/node` (CI does it). Without them
the cells are NOT RUN, and say why. The package is pinned to openai 6.x: 7.x needs Node 22, and these
machines have Node 20.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from conformance.checks.clients import NODE_COVERAGE, NODE_PARSES, NODE_STREAMS, NODE_UNAVAILABLE
from conformance.checks.rules import Rule, quote
from conformance.checks.sdk import STREAMS, answered, sdk_use, served, sse_bytes
from conformance.evidence import Exchange, Status
from conformance.sdk_column import FEATURE as SDK_FEATURE
from conformance.sdk_column import Tally, derived_base, derived_cell, exchange_from_json

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
    if ex.method == "GET":
        segments = [unquote(s) for s in urlsplit(ex.url).path.split("/") if s]
        return rule, {**call, "kind": "retrieve", "response_id": segments[-1]}
    params = {k: v for k, v in body.items() if k != "stream"}
    return rule, {**call, "kind": "stream" if rule is NODE_STREAMS else "parse", "params": params}


def node_unavailable() -> str | None:
    """Why node cannot read answers here, or None when it can."""
    if shutil.which("node") is None:
        return "node is not on PATH"
    if not (NODE_DIR / "node_modules" / "openai" / "package.json").is_file():
        return f"the openai npm package is not installed: npm ci --prefix {NODE_DIR}"
    return None


def read_with_node(calls: Sequence[dict[str, Any]]) -> list[dict[str, Any]] | str:
    """What the Node SDK made of each call, in order; or one line saying why node could not run."""
    missing = node_unavailable()
    if missing is not None:
        return missing
    return _run_node(json.dumps({"answers": [{**call, "id": i} for i, call in enumerate(calls)]}), len(calls))


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
            env={"PATH": os.environ.get("PATH", ""), "NODE_NO_WARNINGS": "1"},  # no key reaches node
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"node did not run: {type(exc).__name__}: {exc}"
    try:
        results = json.loads(done.stdout)
    except ValueError:
        return f"node exited {done.returncode} without results: {quote(done.stderr.strip(), 300)}"
    if not isinstance(results, list) or len(results) != count:
        return f"node answered {quote(results)} for {count} calls"
    return results


def is_derived(record: dict[str, Any]) -> bool:
    """A cell made when rendering from the other cells' answers (the sdk column, the Node cells), not by a probe."""
    return record.get("feature") == SDK_FEATURE or record.get("probe") in DERIVED


def node_records(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Two Node cells per (provider, model) among `records`, from one node process for all of them."""
    by_model: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for record in records:
        if not is_derived(record):
            by_model.setdefault((record["provider"], record["model"]), {})[record["probe"]] = record
    answers: dict[tuple[str, str], list[Answer]] = {}
    for key, cells in by_model.items():
        answers[key] = []
        for cell in cells.values():
            exchanges = [exchange_from_json(e) for e in cell.get("exchanges", [])]
            for number, ex in enumerate(exchanges, 1):
                if (made := node_call(ex)) is not None:
                    label = cell["probe"] + (f" (exchange {number})" if len(exchanges) > 1 else "")
                    answers[key].append(Answer(label, made[0], made[1], served(ex)))
    flat = [a for model_answers in answers.values() for a in model_answers]
    results = read_with_node([a.call for a in flat]) if flat else []
    outcomes = iter(results if isinstance(results, list) else [])
    out: list[dict[str, Any]] = []
    for (provider, model), model_answers in answers.items():
        tallies = {rule.id: Tally() for rule, _, _ in CELLS}
        for answer in model_answers:
            outcome = next(outcomes, None)
            if not isinstance(outcome, dict) or not outcome.get("sent"):
                continue  # node could not run, or the SDK refused the call before asking: nothing said of the server
            tally = tallies[answer.rule.id]
            tally.read += 1
            if outcome.get("error") is not None:
                tally.failed += 1
                what = f"{outcome.get('step')} raised {quote(_gist(str(outcome['error'])))} on {answer.served}"
                tally.where.setdefault(what, []).append(answer.label)
        base = derived_base(provider, model, list(by_model[(provider, model)].values()), FEATURE)
        for rule, title, what in CELLS:
            cell = derived_cell(rule, title, what, tallies[rule.id], model, FEATURE, NODE_COVERAGE, "the Node SDK")
            if isinstance(results, str):
                cell["status"] = Status.NOT_RUN.value
                cell["findings"] = [NODE_UNAVAILABLE.finding(results).to_json()]
            out.append({**base, **cell})
    return out


def _gist(error: str) -> str:
    """The error without the payload Node's messages often quote, so answers that broke alike group together."""
    head, brace, _ = error.partition("{")
    return head + "{...}" if brace else error
