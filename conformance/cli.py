"""The `conformance` command: a thin shell over conformance.session.

With no endpoint, `conformance run` replays the cassettes shipped in the repository, so a new
user gets a real matrix offline.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import NoReturn

from conformance import __version__, expectations
from conformance.catalog.model import Catalog, SourceReport
from conformance.cli_models import add_models_parser, models_command
from conformance.diff import diff, exit_status, load_matrix, render_text
from conformance.evidence import Status
from conformance.paths import cassettes_dir, expectations_dir, safe_name
from conformance.plan import (
    DEFAULT_SEMANTIC_TRIES,
    DEFAULT_TIMEOUT_S,
    api_key_for,
    live_plan,
    replay_plans,
    requests_per_minute,
    select_probes,
    timeout_seconds,
    utf8_text,
)
from conformance.preflight import preflight
from conformance.probes.listing import probe_table, update_readme
from conformance.profiles import ProfileError, profile_for
from conformance.records import Matrix, MatrixHead
from conformance.render import render_dir
from conformance.runner import CellResult, describe
from conformance.schedule import Deadline
from conformance.session import Session
from conformance.shard import Shard, merge
from conformance.terminal import inert_output, one_line
from conformance.transports import CLIENT_ERRORS, CassetteError, RecordMode

DEFAULT_OUT = Path("reports/latest")

# Exit codes (README, "Exit codes"): 1 and 2 are the verdicts of `diff`; the others never mean a verdict.
EXIT_OK = 0
EXIT_REGRESSION = 1  # diff: a cell regressed (models: the catalogs name no model)
EXIT_HARNESS = 2  # diff: the new run newly could not judge a cell
EXIT_INPUT = 3  # bad arguments or a bad local file, profile, URL; nothing to run
EXIT_INTERNAL = 4  # a bug in the suite; one line says where
EXIT_INTERRUPTED = 130  # Ctrl-C, as a shell reports it
EXIT_TERMINATED = 143  # SIGTERM, as a shell reports it


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on a usage error, which `diff` uses for harness errors: bad input is EXIT_INPUT."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_INPUT, f"{self.prog}: error: {message}\n")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cassettes", type=Path, default=None, help="cassette directory (default: matrices/cassettes)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output directory (default: {DEFAULT_OUT})")
    parser.add_argument(
        "--probe", action="append", default=[], type=utf8_text, metavar="GLOB", help="probe ids to run (repeatable)"
    )
    parser.add_argument(
        "--feature", action="append", default=[], type=utf8_text, help="feature groups to run (repeatable)"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no line per cell")
    parser.add_argument(
        "--baseline",
        type=Path,
        default=None,
        metavar="MATRIX",
        help="a past matrix.json or results directory: the report outlines what changed",
    )
    parser.add_argument(
        "--shard",
        type=Shard.parse,
        default=None,
        metavar="K/N",
        help="run only the K-th of N parts, split by model (merge them with `conformance merge`)",
    )
    parser.add_argument(
        "--jobs",
        type=_positive_int,
        default=None,
        metavar="N",
        help="models run at once (default: all of them, up to 256; a provider's limits are per model); a replay runs"
        " its models in up to one process per core, and N caps those too",
    )
    parser.add_argument(
        "--budget",
        type=_positive_float,
        default=None,
        metavar="SECONDS",
        help="run time budget; once spent, cells not yet started are ERROR (harness.budget)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="conformance", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"conformance {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="probe an endpoint (or, with no endpoint, replay the shipped cassettes)")
    run.add_argument("--provider", type=utf8_text, help="provider profile name in matrices/ (or a .toml path)")
    run.add_argument("--base-url", type=utf8_text, help="endpoint base URL, e.g. https://host/v1")
    run.add_argument("--api-key-env", type=utf8_text, help="environment variable holding the API key")
    run.add_argument(
        "--model", action="append", default=[], type=utf8_text, metavar="GLOB", help="models (repeatable; default: all)"
    )
    run.add_argument(
        "--exclude-model", action="append", default=[], type=utf8_text, metavar="GLOB", help="models to skip"
    )
    run.add_argument(
        "--include-unavailable", action="store_true", help="also probe models the catalog marks unavailable"
    )
    run.add_argument(
        "--record-mode",
        type=RecordMode.parse,
        default=None,
        metavar="MODE",
        help="none | once | new_episodes | all | rewrite (default: live, nothing recorded)",
    )
    run.add_argument(
        "--timeout",
        type=timeout_seconds,
        default=DEFAULT_TIMEOUT_S,
        help=f"seconds per probe (default: {DEFAULT_TIMEOUT_S:g})",
    )
    run.add_argument(
        "--rate-limit",
        type=requests_per_minute,
        default=None,
        metavar="N",
        help="requests/min per model to pace at (default: the catalog's or the profile's; 0: unpaced)",
    )
    run.add_argument(
        "--max-in-flight",
        type=_positive_int,
        default=None,
        metavar="N",
        help="cells of one model run at once, sharing its rate (default: its rate/min x 5 s / 60, at least "
        "the burst, at most 64; 1 for a model with no known rate); a 429 or 503 halves it",
    )
    run.add_argument(
        "--semantic-tries",
        type=_positive_int,
        default=DEFAULT_SEMANTIC_TRIES,
        metavar="N",
        help=f"attempts for a cell failed only by semantic checks (default: {DEFAULT_SEMANTIC_TRIES}); "
        "k/N and FLAKY are shown",
    )
    _common(run)

    replay = sub.add_parser("replay", help="re-judge recorded cassettes offline; no socket is opened")
    replay.add_argument("--provider", action="append", default=[], type=utf8_text, help="only these recorded providers")
    _common(replay)

    report = sub.add_parser("report", help="re-render matrix.json and the reports from a results directory")
    report.add_argument("results_dir", type=Path)
    report.add_argument(
        "--baseline",
        type=Path,
        default=None,
        metavar="MATRIX",
        help="a past matrix.json or results directory: the report outlines what changed",
    )
    report.add_argument(
        "--history",
        type=Path,
        nargs="+",
        default=[],
        metavar="DIR",
        help="past results directories (or matrix.json files), oldest first: a PASS trend per model",
    )

    join = sub.add_parser("merge", help="merge the results directories of shards into one run")
    join.add_argument("parts", type=Path, nargs="+", help="results directories of the shards")
    join.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"merged output directory (default: {DEFAULT_OUT})")

    compare = sub.add_parser(
        "diff", help="compare two runs; exit 1 on a regression, 2 on harness errors, 3 on unreadable input"
    )
    compare.add_argument("old", type=Path, help="baseline matrix.json or results directory")
    compare.add_argument("new", type=Path, help="new matrix.json or results directory")
    compare.add_argument("--json", action="store_true", help="print the changes as JSON")

    expect = sub.add_parser(
        "expectations", help="compare a run with the expected statuses (exit 1 on a difference), or --update them"
    )
    expect.add_argument("run", type=Path, help="a results directory or matrix.json")
    expect.add_argument("--update", action="store_true", help="rewrite the expectation files from the run")
    expect.add_argument("--dir", type=Path, default=None, help="expectation files (default: matrices/expectations)")

    add_models_parser(sub)

    probes = sub.add_parser("probes", help="list the probe catalog as Markdown")
    probes.add_argument("--update-readme", type=Path, nargs="?", const=Path("README.md"), metavar="README")
    return parser


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number above 0, got {text}")
    return value


def _session(args: argparse.Namespace, meta: MatrixHead) -> Session:
    budget = None if args.budget is None else Deadline(args.budget)
    baseline = None if args.baseline is None else load_matrix(args.baseline)
    return Session(
        args.out, meta, None if args.quiet else _print_cell, jobs=args.jobs, budget=budget, baseline=baseline
    )


def _print_cell(result: CellResult) -> None:
    reason = result.findings[0].message if result.findings and result.status is not Status.PASS else ""
    print(f"{result.status.value:11s} {one_line(result.model)} {result.probe}  {one_line(reason[:100])}", flush=True)


def _replay(args: argparse.Namespace, providers: Sequence[str] = ()) -> int:
    cassettes = args.cassettes or cassettes_dir()
    plans = replay_plans(cassettes, providers, select_probes(args.probe, args.feature))
    if args.shard:
        plans = args.shard.apply(plans)
    if not plans:
        print(f"conformance: no recorded provider under {cassettes}", file=sys.stderr)
        return EXIT_INPUT
    session = _session(args, MatrixHead(mode="replay"))
    return _finish(session.run(plans), args.out)


def _finish(matrix: Matrix, out: Path) -> int:
    """Print the counts."""
    counts = Counter(cell.status for cell in matrix.cells)
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    print(f"{len(matrix.cells)} cells: {summary}\nmatrix: {out / 'matrix.html'}")
    return 0


def _run(args: argparse.Namespace) -> int:
    profile = profile_for(args.provider, args.base_url)
    if profile is None:
        print("conformance: no --base-url or --provider given: replaying the recorded cassettes offline.")
        return _replay(args)
    mode: RecordMode | None = args.record_mode
    live = live_plan(
        profile,
        api_key_for(profile, args.api_key_env),
        select_probes(args.probe, args.feature),
        mode,
        args.cassettes or cassettes_dir(),
        args.model,
        args.exclude_model,
        args.include_unavailable,
        args.timeout,
        args.semantic_tries,
        args.rate_limit,
        args.budget,
        args.max_in_flight,
    )
    for warning in live.warnings:
        print(f"catalog: {one_line(warning)}", file=sys.stderr)
    for model, reason in live.skipped.items():
        print(f"not probed: {one_line(model)} ({one_line(reason)})", file=sys.stderr)
    if not live.plan.models:
        print(f"conformance: no model selected{_unread(live.plan.catalog)} (see `conformance models`)", file=sys.stderr)
        return EXIT_INPUT
    if mode is not RecordMode.NONE:
        key_env = args.api_key_env if args.api_key_env is not None else profile.api_key_env
        problem = preflight(live.plan.target, live.plan.models[0], live.plan.pacing, key_env)
        if problem is not None:
            print(f"conformance: {one_line(problem.message)}; nothing was run.", file=sys.stderr)
            return EXIT_INPUT
    meta = MatrixHead(
        mode="live" if mode is None else f"record ({mode.value})",
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        not_probed=live.skipped,
    )
    plans = args.shard.apply([live.plan]) if args.shard else [live.plan]
    session = _session(args, meta)
    return _finish(session.run(plans), args.out)


def _unread(catalog: Catalog | None) -> str:
    """Why no model came from the catalog, when no source of it gave one."""
    sources = catalog.sources if catalog is not None else ()
    if not sources or any(s.models for s in sources):
        return ""
    return ": no catalog source gave a model (" + "; ".join(f"{s.url}: {_none_from(s)}" for s in sources) + ")"


def _none_from(source: SourceReport) -> str:
    """Why a source gave no model: what went wrong reading it, or that what it listed was all skipped."""
    if source.problem or source.status is None or not 200 <= source.status < 300:
        return source.problem or f"HTTP {source.status}"
    return "it listed no model the suite runs (see the warnings above)"


def _diff(args: argparse.Namespace) -> int:
    old, new = load_matrix(args.old), load_matrix(args.new)
    changes = diff(old.cells, new.cells)
    print(json.dumps([c.to_json() for c in changes], indent=1) if args.json else render_text(changes))
    return exit_status(changes, new.cells)


def _expectations(args: argparse.Namespace) -> int:
    """One file per provider in the run; every difference printed, then a one-line verdict."""
    cells = load_matrix(args.run).cells
    folder = args.dir or expectations_dir()
    differences = 0
    for provider in expectations.providers_of(cells):
        path = folder / f"{safe_name(provider)}.toml"
        old = expectations.load(path) if path.exists() else {}
        if args.update:
            new = expectations.carry_intermittent(expectations.from_cells(cells, provider), old)
            folder.mkdir(parents=True, exist_ok=True)
            path.write_text(expectations.render(provider, new), encoding="utf-8")
            print(f"{path}: written; review it with git diff")
            continue
        if not path.exists():
            print(f"{path}: missing; write it with --update", file=sys.stderr)
            differences += 1
            continue
        mismatches = expectations.compare(old, cells, provider)
        for mismatch in mismatches:
            print(f"{provider} {mismatch}")
        differences += len(mismatches)
        print(f"{path}: {len(mismatches) or 'no'} difference(s)")
    return 1 if differences else 0


class Terminated(KeyboardInterrupt):
    """SIGTERM: a cancelled CI job or a supervisor stopping the run. Raised where Ctrl-C raises, so the run
    stops its workers and keeps its finished cells the same way, and says so, rather than dying silent."""


def _terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM handled as Ctrl-C while the command runs; only the main thread may set a handler."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    """Every line printed is inert (control characters escaped); every failure is one line and a distinct code.

    Pydantic's serializer warnings are silenced: a client library raises them, quoting the server's data
    over many lines, when it re-serializes an answer of the wrong types, which the cells' findings name.
    """
    with inert_output(), warnings.catch_warnings(), _terminate_as_interrupt():
        warnings.filterwarnings("ignore", message="Pydantic serializer warnings", category=UserWarning)
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as exc:
            return exc.code if isinstance(exc.code, int) else EXIT_INPUT
        return _main(args)


def _main(args: argparse.Namespace) -> int:
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "replay":
            return _replay(args, args.provider)
        if args.command == "models":
            return models_command(args)
        if args.command == "merge":
            cells = merge(args.parts, args.out)
            print(f"merged {cells} cells from {len(args.parts)} parts")
            return _finish(render_dir(args.out, MatrixHead(mode="merged")), args.out)
        if args.command == "diff":
            return _diff(args)
        if args.command == "expectations":
            return _expectations(args)
        if args.command == "probes":
            if args.update_readme:
                changed = update_readme(args.update_readme)
                print(f"{args.update_readme}: {'updated' if changed else 'already current'}")
            else:
                print(probe_table())
            return 0
        baseline = load_matrix(args.baseline) if args.baseline else None
        render_dir(args.results_dir, history=[load_matrix(p) for p in args.history], baseline=baseline)
        print(f"matrix: {args.results_dir / 'matrix.html'}")
        return 0
    except (ProfileError, CassetteError, ValueError, OSError, *CLIENT_ERRORS) as exc:
        print(f"conformance: {one_line(str(exc))}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt as exc:
        stopped = "terminated" if isinstance(exc, Terminated) else "interrupted"
        print(f"conformance: {stopped}; every finished cell is kept. Run the same command to resume.", file=sys.stderr)
        return EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED
    except Exception as exc:  # a bug: one line naming it, not a traceback whose exit code 1 reads as "regression"
        print(f"conformance: internal error: {one_line(describe(exc))}", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
