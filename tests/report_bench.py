"""`python -m tests.report_bench`: the report's budgets at catalog scale, measured and printed.

It builds a corpus of `--models` models (default 40) from the shipped cassettes, copied under new
model names (each request's `model` renamed, so replay matches them), replays it offline into a
fresh directory in a child process, and prints each figure against its budget:

- replay plus all reports: `Session.run` in the child, from its start to the last report written,
  split into the replay (which derives each model's SDK and Node cells in its workers) and the
  rendering (matrix.json and the reports; the reports alone are timed once more afterwards); with
  the child's CPU time (in all, and each phase's in the run's process and in its workers), the
  machine's load average and its speed (a fixed piece of Python work, timed before the run: a shared
  machine's speed drifts by a third over a day, and every figure with it), since the budget is for 2
  quiet cores;
- the clients' own work, timed again alone after the run in a process of its own: the Python SDK and
  node reading every answer, and the client-library cells replayed on their own; the part of the
  figure that no faster harness removes while the sdk, Node and clients columns are filled;
- a floor for that figure: parsing every cassette of the corpus and writing it back out, the least any
  replay of it must do, spread over the cores, so that the figure reads as a ratio to work no suite
  can skip, on this machine as it is just now;
- peak RSS of that child (the whole process: interpreter, replay and reports);
- matrix.html's size, and the whole output directory's;
- matrix.html in headless Chromium from file://: the load event (page parsed, script run), then a
  group expanded, a model filter typed and a cell's evidence opened (its sidecar loaded), each timed.

It lives beside the tests because it needs the repository's cassettes and the Chromium driver.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from conformance.node_column import is_derived, node_records
from conformance.paths import MANIFEST, cassettes_dir, safe_name
from conformance.plan import replay_plans, select_probes
from conformance.records import Matrix, MatrixHead
from conformance.report import write_reports
from conformance.results import RESULTS_FILE, read_results
from conformance.sdk_column import sdk_records
from conformance.session import Session

MB = 1_000_000
BUDGETS = {"html_mb": 3.0, "interactive_s": 1.0, "run_s": 8.0, "rss_mb": 300.0, "out_mb": 60.0}


def build_corpus(source: Path, target: Path, models: int) -> int:
    """Copy the shipped cassettes under `models` new names, spread over the recorded providers; returns cells."""
    providers = sorted(p.parent for p in source.glob(f"*/{MANIFEST}"))
    if not providers:
        raise SystemExit(f"no recorded provider under {source}")
    names: dict[Path, list[str]] = {p: [] for p in providers}
    cells = 0
    for i in range(models):
        provider = providers[i % len(providers)]
        manifest = json.loads((provider / MANIFEST).read_text(encoding="utf-8"))
        original = manifest["models"][0]
        name = f"{original}-{i:02d}"
        names[provider].append(name)
        for cassette in sorted((provider / safe_name(original)).glob("*.json")):
            data = json.loads(cassette.read_text(encoding="utf-8"))
            _rename(data, original, name)
            out = target / provider.name / safe_name(name) / cassette.name
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
            cells += 1
    for provider, chosen in names.items():
        manifest = json.loads((provider / MANIFEST).read_text(encoding="utf-8"))
        manifest["models"] = chosen
        (target / provider.name).mkdir(parents=True, exist_ok=True)
        (target / provider.name / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        catalog = provider / "_catalog"
        if catalog.is_dir():
            shutil.copytree(catalog, target / provider.name / "_catalog", dirs_exist_ok=True)
    return cells


def _rename(cassette: dict[str, Any], old: str, new: str) -> None:
    """The cassette's model, and each request body's `model`, so the replay's requests match."""
    cassette["model"] = new
    for interaction in cassette.get("interactions", []):
        request = interaction.get("request", {})
        try:
            body = json.loads(request.get("body") or "")
        except ValueError:
            continue
        if isinstance(body, dict) and body.get("model") == old:
            body["model"] = new
            request["body"] = json.dumps(body)


def cpu_s() -> tuple[float, float]:
    """CPU seconds so far of this process, and of the children it has waited for (a pool's workers, once shut)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


class _TimedSession(Session):
    """A Session that notes how long its rendering took (matrix.json and the reports), and the CPU each phase
    took in this process and in its workers."""

    render_s = 0.0
    at_render: tuple[float, float] = (0.0, 0.0)

    def render(self, *args: Any, **kwargs: Any) -> Matrix:
        started, self.at_render = time.perf_counter(), cpu_s()
        try:
            return super().render(*args, **kwargs)
        finally:
            self.render_s = time.perf_counter() - started


def child(cassettes: Path, out: Path) -> None:
    """Replay and render in this process; print the wall times as JSON.

    The reports alone are timed once more after the run, from the files it wrote, outside its figure.
    """
    session = _TimedSession(out, MatrixHead(mode="replay"))
    started, at_start = time.perf_counter(), cpu_s()
    matrix = session.run(replay_plans(cassettes))
    run_s, at_end = time.perf_counter() - started, cpu_s()
    started = time.perf_counter()
    write_reports(matrix, out, records=read_results(out / RESULTS_FILE))
    reports_s = time.perf_counter() - started
    (own0, kids0), (own1, kids1), (own2, kids2) = at_start, session.at_render, at_end
    cpu = {"replay": (own1 - own0, kids1 - kids0), "render": (own2 - own1, kids2 - kids1)}
    figures = {
        "run_s": run_s,
        "render_s": session.render_s,
        "reports_s": reports_s,
        "cells": len(matrix.cells),
        "cpu": cpu,
    }
    print(json.dumps(figures))


def clients_child(cassettes: Path, out: Path) -> None:
    """The CPU seconds of what the clients make of the answers, timed again after the run, in a process of its
    own (so the run's peak RSS is its alone), printed as JSON: the Python SDK's and node's reads of every
    recorded cell's answers (node's own process included), and the client-library cells replayed on their
    own (their libraries' import, and their own judging, included). A replay that fills the sdk, Node and
    clients columns does this work whatever else it does."""
    recorded = [r for r in read_results(out / RESULTS_FILE) if not is_derived(r)]
    started = cpu_s()
    sdk_records(recorded)
    node_records(recorded)
    read = cpu_s()
    with tempfile.TemporaryDirectory() as scratch:
        plans = replay_plans(cassettes, probes=select_probes(features=["clients"]))
        Session(Path(scratch), MatrixHead(mode="replay")).run(plans)
        ended = cpu_s()
    print(json.dumps({"reads": sum(read) - sum(started), "libraries": sum(ended) - sum(read)}))


def machine_ms() -> float:
    """The best of three timings of a fixed piece of Python work (objects built, a JSON round trip): how fast
    this machine runs Python just now, caches and memory included."""
    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        data = [{"key": str(i), "values": list(range(20)), "text": "x" * 50} for i in range(50_000)]
        json.loads(json.dumps(data))
        best = min(best, time.process_time() - started)
    return best * 1000


def floor_s(corpus: Path, cores: int) -> float:
    """The CPU time to parse every cassette of the corpus and serialise it again, spread over `cores`."""
    started = time.process_time()
    for cassette in corpus.rglob("*.json"):
        json.dumps(json.loads(cassette.read_bytes()))
    return (time.process_time() - started) / max(1, cores)


def size_of(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def measure_browser(page: Path, models: int) -> dict[str, float] | str:
    from tests.browser import Browser, find_chromium

    executable = find_chromium()
    if executable is None:
        return "Chromium not found: apt-get install -y chromium, or set CONFORMANCE_CHROMIUM"
    with tempfile.TemporaryDirectory() as profile, Browser(executable, Path(profile), 1440, 900) as browser:
        browser.open(page.as_uri())
        load = browser.eval("performance.getEntriesByType('navigation')[0].loadEventEnd") / 1000
        wide = browser.eval("document.querySelector('main').scrollWidth <= document.querySelector('main').clientWidth")
        expand = _timed(browser, "document.querySelector('.exp').click(); document.querySelector('#matrix').className")
        filtered = _timed(
            browser,
            "(() => { const box = document.getElementById('model-filter');"
            f" box.value = '-{min(7, models - 1):02d}';"
            " box.dispatchEvent(new Event('input')); return document.getElementById('shown').textContent; })()",
        )
        started = time.perf_counter()
        browser.click("#matrix tbody tr:not(.off) td.pc[data-p]")
        while browser.eval("document.getElementById('panel').dataset.loaded") != "true":
            if time.perf_counter() - started > 10:
                return "the evidence panel did not load within 10 s"
            time.sleep(0.005)
        evidence = time.perf_counter() - started
    return {"load_s": load, "expand_s": expand, "filter_s": filtered, "evidence_s": evidence, "fits": float(wide)}


def _timed(browser: Any, expression: str) -> float:
    started = time.perf_counter()
    browser.eval(expression + "; new Promise((done) => requestAnimationFrame(() => setTimeout(done)))")
    return time.perf_counter() - started


def _json_of(command: list[str]) -> Any:
    """The JSON a child prints last; None (its errors printed) when it fails."""
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        print(done.stderr, file=sys.stderr)
        return None
    return json.loads(done.stdout.splitlines()[-1])


def _verdict(value: float, budget: float) -> str:
    return f"{value / budget:5.2f} of budget  {'ok' if value <= budget else 'OVER'}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.report_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=40, help="models in the corpus (default 40)")
    parser.add_argument("--keep", type=Path, default=None, help="write the corpus and the report here, and keep them")
    parser.add_argument("--child", nargs=2, type=Path, metavar=("CASSETTES", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--clients-child", nargs=2, type=Path, metavar=("CASSETTES", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0
    if args.clients_child:
        clients_child(*args.clients_child)
        return 0
    with tempfile.TemporaryDirectory() as scratch:
        root = (args.keep or Path(scratch)).resolve()
        corpus, out = root / "cassettes", root / "report"
        for folder in (corpus, out):
            shutil.rmtree(folder, ignore_errors=True)
        cells = build_corpus(cassettes_dir(), corpus, args.models)
        speed = machine_ms()
        floor = floor_s(corpus, os.cpu_count() or 1)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        figures = _json_of([sys.executable, "-m", "tests.report_bench", "--child", str(corpus), str(out)])
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if figures is None:
            return 1
        clients = _json_of([sys.executable, "-m", "tests.report_bench", "--clients-child", str(corpus), str(out)])
        if clients is None:
            return 1
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        rss = after.ru_maxrss * 1024 / MB
        html, total = (out / "matrix.html").stat().st_size / MB, size_of(out) / MB
        browser = measure_browser(out / "matrix.html", args.models)
        print(
            f"corpus             {args.models} models, {cells} recorded cells; {figures['cells']} cells in the matrix"
        )
        print(f"replay + reports   {figures['run_s']:6.2f} s   {_verdict(figures['run_s'], BUDGETS['run_s'])}")
        replay_s = figures["run_s"] - figures["render_s"]
        print(
            f"                   replay {replay_s:.2f} s (derived cells included); then matrix.json and reports"
            f" {figures['render_s']:.2f} s (the reports alone {figures['reports_s']:.2f} s)"
        )
        print(f"                   CPU {cpu:.2f} s; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        (replay_own, replay_kids), (render_own, render_kids) = figures["cpu"]["replay"], figures["cpu"]["render"]
        print(
            f"                   of which the replay {replay_own:.2f} s in the run's process and {replay_kids:.2f} s"
            f" in its workers, the render {render_own:.2f} s and {render_kids:.2f} s"
        )
        print(
            f"                   the clients' own work, timed again alone: {clients['reads']:.2f} s of CPU for"
            f" the Python SDK and node to read every answer,\n                   {clients['libraries']:.2f} s for"
            f" the client-library cells; {(clients['reads'] + clients['libraries']) / (os.cpu_count() or 1):.2f} s"
            f" on {os.cpu_count()} cores"
        )
        print(f"                   machine: a fixed piece of Python work took {speed:.0f} ms before the run")
        print(
            f"                   floor: parsing and re-writing every cassette takes {floor:.2f} s on"
            f" {os.cpu_count()} cores; the run is {figures['run_s'] / floor:.0f} times that"
        )
        print(f"peak RSS           {rss:6.1f} MB  {_verdict(rss, BUDGETS['rss_mb'])}")
        print(f"matrix.html        {html:6.2f} MB  {_verdict(html, BUDGETS['html_mb'])}")
        print(f"out dir            {total:6.1f} MB  {_verdict(total, BUDGETS['out_mb'])}")
        for name in ("results.jsonl", "matrix.json", "junit.xml"):
            print(f"  {name:<16} {(out / name).stat().st_size / MB:6.1f} MB")
        for name in ("evidence", "models", "probes"):
            files = sum(1 for _ in (out / name).iterdir())
            print(f"  {name + '/':<16} {size_of(out / name) / MB:6.1f} MB in {files} files")
        if isinstance(browser, str):
            print(f"chromium           {browser}")
            return 1
        interactive = browser["load_s"]
        print(f"chromium load      {interactive:6.3f} s   {_verdict(interactive, BUDGETS['interactive_s'])}")
        print(
            f"  then             expand a group {browser['expand_s'] * 1000:.0f} ms; filter by model"
            f" {browser['filter_s'] * 1000:.0f} ms; open a cell's evidence {browser['evidence_s'] * 1000:.0f} ms"
        )
        fits = "fits: no horizontal scrolling" if browser["fits"] else "SCROLLS horizontally"
        print(f"  at 1440 px       the first screen {fits}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
