"""Round two of the hostile cases: no server, catalog or file can kill a run, leak the key, or write outside its folder.

Cell-level verdicts of the new faults are in tests/test_faults.py (EXPECTED); this file covers what a
single cell cannot show: a hostile mix of models in parallel lanes within its bounds, replay of what
it recorded, requests a server-supplied id must not steer, catalogs that drip or nest, model ids
that look like paths, results files torn or shared, what reaches the terminal, and exit codes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conformance import cli
from conformance.evidence import Status
from conformance.node_column import is_derived
from conformance.paths import file_name
from conformance.plan import Plan, replay_plans
from conformance.probes import BY_ID
from conformance.records import ResultLine
from conformance.results import RESULTS_FILE, DirLock, LockHeld, ResultsWriter, read_results
from conformance.runner import Target, run_cell
from conformance.session import Session
from conformance.transports import RecordMode
from conformance.transports.cassette import cassette_path, load_cassette
from conformance.transports.deadline import live_transport
from tests.exchanges import RESULT_LINE
from tests.faults.server import HOSTILE_IDS, FaultServer

JSON, STREAM, STATE = BY_ID["core.text_input"], BY_ID["streaming.text"], BY_ID["state.store_then_get"]
KEY = "sk-Hostile-Key-0123456789abcdef"
TIMEOUT_S = 5.0
BOUND_S = TIMEOUT_S + 5.0  # a hostile cell ends within --timeout + 5 s
# The lanes share one GIL and CI shares its cores; and a lane's first cells also wait for the
# process's one-time building of the schema validators their events need, which is not the cell's.
LOAD_MARGIN_S = 7.0
MAX_WRITTEN = 20 * 1024 * 1024  # and writes under 20 MB
MAX_RSS = 500 * 1024 * 1024  # and stays under 500 MB


@pytest.fixture(scope="module")
def server() -> Iterator[FaultServer]:
    with FaultServer() as srv:
        yield srv


HOSTILE = (
    "fault:sse_tiny_flood",
    "fault:findings_flood",
    "fault:deep_json",
    "fault:sse_deep_event",
    "fault:sse_retry_huge",
    "fault:id_traversal",
    "fault:huge_body",
    "fault:nan_json",
)


def test_a_hostile_mix_finishes_within_bounds_and_spares_the_healthy_model(server: FaultServer, tmp_path: Path) -> None:
    """The run is a process of its own, as in use: the server's threads do not share its interpreter."""
    models = [arg for m in ("healthy-model", *HOSTILE) for arg in ("--model", m)]
    probes = [arg for p in (JSON, STREAM, STATE) for arg in ("--probe", p.id)]
    command = [
        sys.executable, "-m", "conformance.cli", "run", "--base-url", server.base_url, *models, *probes,
        "--timeout", str(TIMEOUT_S), "--jobs", "4", "--record-mode", "all", "-q",
        "--cassettes", str(tmp_path / "cassettes"), "--out", str(tmp_path / "out"),
    ]  # fmt: skip
    started = time.perf_counter()
    with (tmp_path / "stderr.txt").open("wb") as stderr:
        run = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=stderr)
        _, status, usage = os.wait4(run.pid, 0)  # this child's own peak memory, not the test process's
    wall = time.perf_counter() - started
    assert os.waitstatus_to_exitcode(status) == 0, (tmp_path / "stderr.txt").read_text()[-2000:]
    assert usage.ru_maxrss * 1024 < MAX_RSS, f"{usage.ru_maxrss / 1024:.0f} MB"

    cells = [(m, p.id) for m in ("healthy-model", *HOSTILE) for p in (JSON, STREAM, STATE)]
    records = list(_records(tmp_path / "out" / RESULTS_FILE))
    assert sorted((r["model"], r["probe"]) for r in records) == sorted(cells)
    status = {(r["model"], r["probe"]): r["status"] for r in records}
    assert all(status[("healthy-model", p.id)] == "PASS" for p in (JSON, STREAM, STATE)), status
    for record in records:
        elapsed_s = record["elapsed_ms"] / 1000
        assert elapsed_s < BOUND_S + LOAD_MARGIN_S, (record["model"], record["probe"], elapsed_s)
        per_rule: dict[str, int] = {}
        for finding in record["findings"]:
            per_rule[finding["rule"]] = per_rule.get(finding["rule"], 0) + 1
        assert max(per_rule.values(), default=0) <= 11, "findings are grouped and counted"
    for line in (tmp_path / "out" / RESULTS_FILE).read_bytes().splitlines():
        assert len(line) < MAX_WRITTEN
    for cassette in (tmp_path / "cassettes").rglob("*.json"):
        assert cassette.stat().st_size < MAX_WRITTEN, cassette
    assert (tmp_path / "out" / "matrix.json").is_file() and (tmp_path / "out" / "matrix.html").is_file()
    assert json.loads((tmp_path / "out" / "run.json").read_text())["complete"] is True
    assert wall < 60 + BOUND_S * len(cells) / 4, "the lanes ran side by side"
    assert status[("fault:sse_tiny_flood", STREAM.id)] == "ERROR"
    assert status[("fault:deep_json", JSON.id)] == status[("fault:id_traversal", STATE.id)] == "FAIL"

    replayed = Session(tmp_path / "replay").run(replay_plans(tmp_path / "cassettes", probes=(JSON, STREAM, STATE)))
    again = {(c.model, c.probe): c.status for c in replayed.cells if not is_derived(c)}
    assert again == status, "the replay judges every recorded cell alike"


def test_one_poisoned_cassette_costs_one_cell(server: FaultServer, tmp_path: Path) -> None:
    target = Target("faults", server.base_url, timeout_s=10)
    plan = Plan(target, ("m1", "m2"), (JSON, STREAM), RecordMode.ALL, tmp_path / "cassettes")
    Session(tmp_path / "rec").run([plan])
    poisoned = cassette_path(tmp_path / "cassettes", "faults", "m1", JSON.id)
    poisoned.write_text('{"version": 1, "interactions": ' + "[" * 50_000 + "]" * 50_000 + "}")
    garbled = cassette_path(tmp_path / "cassettes", "faults", "m2", STREAM.id)
    data = json.loads(garbled.read_text())
    data["interactions"][0]["response"]["chunks"][0]["body_base64"] = "%%% not base64"
    garbled.write_text(json.dumps(data))

    Session(tmp_path / "replay").run(replay_plans(tmp_path / "cassettes"))
    cells = {(r["model"], r["probe"]): r for r in _records(tmp_path / "replay" / RESULTS_FILE)}
    assert cells[("m1", JSON.id)]["status"] == cells[("m2", STREAM.id)]["status"] == "ERROR"
    assert "nested deeper than" in cells[("m1", JSON.id)]["findings"][0]["message"]
    assert "harness." in cells[("m2", STREAM.id)]["findings"][0]["rule"]
    assert cells[("m1", STREAM.id)]["status"] == cells[("m2", JSON.id)]["status"] == "PASS"


def test_an_unexpected_error_in_a_cell_is_that_cells_error(
    server: FaultServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Judging that raises (a bug), or a cassette that cannot be saved: an ERROR cell naming it, the run goes on."""
    import conformance.runner as runner
    import conformance.transports.cassette as cassette

    judge = runner.judge

    def flaky_judge(probe, exchanges, semantic, refused=None):  # type: ignore[no-untyped-def]
        if probe.id == STREAM.id:
            raise RecursionError("maximum recursion depth exceeded")
        return judge(probe, exchanges, semantic, refused)

    save = cassette.Cassette.save

    def failing_save(self: cassette.Cassette) -> None:
        if self.model == "m2":
            raise OSError(28, "No space left on device")
        save(self)

    monkeypatch.setattr(runner, "judge", flaky_judge)
    monkeypatch.setattr(cassette.Cassette, "save", failing_save)
    target = Target("faults", server.base_url, timeout_s=10)
    plan = Plan(target, ("m1", "m2"), (JSON, STREAM), RecordMode.ALL, tmp_path / "cassettes")
    Session(tmp_path / "out", jobs=2).run([plan])
    records = {(r["model"], r["probe"]): r for r in _records(tmp_path / "out" / RESULTS_FILE)}
    crashed = records[("m1", STREAM.id)]
    assert crashed["status"] == "ERROR" and crashed["findings"][0]["rule"] == "harness.internal"
    assert "RecursionError" in crashed["findings"][0]["message"]
    unsaved = records[("m2", JSON.id)]
    assert unsaved["status"] == "ERROR" and "No space left on device" in unsaved["findings"][0]["message"]
    assert records[("m1", JSON.id)]["status"] == "PASS"
    assert (tmp_path / "out" / "matrix.json").is_file()


def test_a_client_library_slowed_by_an_answer_is_stopped_by_the_deadline(server: FaultServer) -> None:
    """The Agents SDK rebuilds the Response every event carries: thousands of costly events kept its
    flow, and the cell, busy for minutes, far past the probe's timeout."""
    import threading

    from conformance.checks.clients import FLOW_S

    probe = BY_ID["clients.agents_sdk_stream"]
    before = set(threading.enumerate())
    started = time.perf_counter()
    target = Target("faults", server.base_url, timeout_s=3)
    result = run_cell(probe, "fault:sse_costly_events", target, lambda p, m: live_transport())
    elapsed_s = time.perf_counter() - started
    assert result.status is Status.ERROR and result.findings[0].rule == "harness.judge_time", result.findings[:1]
    assert elapsed_s < 3 + FLOW_S + LOAD_MARGIN_S, f"took {elapsed_s:.1f}s"
    time.sleep(1)  # a stopped flow ends at the next event it reads
    assert set(threading.enumerate()) <= before, "a flow still runs"


# -- server-supplied ids never steer a request ---------------------------------------------------------


@pytest.mark.parametrize("fault", ["id_traversal", "id_newline", "id_query"])
def test_an_unsafe_response_id_sends_nothing(fault: str, tmp_path: Path) -> None:
    with FaultServer() as srv:
        target = Target("faults", srv.base_url, api_key=KEY, timeout_s=10)
        result = run_cell(STATE, f"fault:{fault}", target, lambda p, m: live_transport())
        requests = list(srv.requests)
    assert result.status is Status.FAIL
    assert result.findings[0].rule == "http.unsafe_value" and result.findings[0].message.startswith("not sent:")
    assert [(r.method, r.target) for r in requests] == [("POST", "/v1/responses")], "no GET, so no key, went out"


# -- catalogs: deadlines, depth, hostile ids -----------------------------------------------------------


def test_a_dripping_catalog_is_bounded_by_timeout_and_budget(server: FaultServer, tmp_path: Path) -> None:
    base = server.base_url.replace("/v1", "/catalog_drip/v1")
    started = time.perf_counter()
    code = cli.main(["run", "--base-url", base, "--timeout", "2", "--budget", "3", "--out", str(tmp_path / "o"), "-q"])
    assert time.perf_counter() - started < 2 + 5
    assert code == cli.EXIT_INPUT  # the catalog gave no model, and none was named


def test_a_deep_catalog_is_a_warning(server: FaultServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = server.base_url.replace("/v1", "/catalog_deep/v1")
    assert cli.main(["run", "--base-url", base, "--timeout", "5", "--out", str(tmp_path / "o"), "-q"]) == cli.EXIT_INPUT
    assert "nested deeper than" in capsys.readouterr().err


def test_escape_sequences_from_a_catalog_never_reach_the_terminal(
    server: FaultServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = server.base_url.replace("/v1", "/catalog_hostile_ids/v1")
    argv = ["run", "--base-url", base, "--timeout", "10", "--probe", JSON.id, "--out", str(tmp_path / "o")]
    assert cli.main([*argv, "--cassettes", str(tmp_path / "c"), "--record-mode", "all"]) == 0
    printed = capsys.readouterr()
    text = printed.out + printed.err
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    assert "\\x1b]0;owned" in text and "\\u202eevil" in text
    assert not any(line.startswith("FAKE PASS") for line in text.splitlines())
    assert len(list((tmp_path / "c").rglob(f"{file_name(HOSTILE_IDS[0])}/*.json"))) == 1
    assert "holds a lone surrogate; skipped" in text  # and the other models ran
    assert {r["model"] for r in _records(tmp_path / "o" / RESULTS_FILE)} == set(HOSTILE_IDS[:3])


def _records(path: Path) -> list[dict[str, Any]]:
    """Each line of a results file as its JSON, which these tests compare."""
    return [record.written() for record in read_results(path)]


# -- model ids are not paths -------------------------------------------------------------------------------


def test_model_ids_that_look_like_paths_get_their_own_cassettes(server: FaultServer, tmp_path: Path) -> None:
    models = ("org/model", "org:model", "org_model", "provider.json", "_catalog", "x" * 256, "é/模型", "..", ".")
    target = Target("faults", server.base_url, timeout_s=10)
    plan = Plan(target, models, (JSON,), RecordMode.ALL, tmp_path / "cassettes")
    Session(tmp_path / "out").run([plan])
    live = {r["model"]: r for r in _records(tmp_path / "out" / RESULTS_FILE)}
    assert {m: live[m]["status"] for m in models[:-2]} == dict.fromkeys(models[:-2], "PASS")
    for refused in ("..", "."):
        assert live[refused]["status"] == "ERROR" and live[refused]["findings"][0]["rule"] == "harness.cassette"
    files = sorted(f for f in (tmp_path / "cassettes" / "faults").rglob("*.json") if f.is_file())
    assert len(files) == len(models) - 2 + 1  # one per usable model, and the manifest
    assert all(len(part.encode()) < 255 for f in files for part in f.parts)
    assert {load_cassette(f).model for f in files if f.name != "provider.json"} == set(models[:-2])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cassettes", "out"], "nothing written outside"

    replayed = Session(tmp_path / "replay").run(replay_plans(tmp_path / "cassettes", probes=(JSON,)))
    again = {c.model: c.status for c in replayed.cells if not is_derived(c)}
    assert again == {m: live[m]["status"] for m in models}


def test_symlinks_out_of_the_cassette_folder_are_never_followed(server: FaultServer, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim.json").write_text("precious")
    provider = tmp_path / "cassettes" / "faults"
    provider.mkdir(parents=True)
    (provider / "provider.json").symlink_to(outside / "victim.json")
    (provider / "linked").symlink_to(outside, target_is_directory=True)
    target = Target("faults", server.base_url, timeout_s=10)
    plan = Plan(target, ("plain", "linked"), (JSON,), RecordMode.ALL, tmp_path / "cassettes")
    Session(tmp_path / "out").run([plan])
    records = {r["model"]: r for r in _records(tmp_path / "out" / RESULTS_FILE)}
    assert records["plain"]["status"] == "PASS"
    assert records["linked"]["status"] == "ERROR" and "symlink out of" in records["linked"]["findings"][0]["message"]
    assert (outside / "victim.json").read_text() == "precious" and sorted(os.listdir(outside)) == ["victim.json"]
    assert not (provider / "provider.json").is_symlink(), "the manifest replaced the link instead of following it"


@pytest.mark.parametrize("planted", ["matrix.html", "models", "evidence", RESULTS_FILE, ".conformance.lock"])
def test_symlinks_out_of_the_output_folder_are_never_written_through(
    planted: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    out = tmp_path / "out"
    ResultsWriter(out).append(ResultLine.model_validate(RESULT_LINE))
    assert cli.main(["report", str(out)]) == 0
    capsys.readouterr()
    link = out / planted
    if link.is_dir():
        shutil.rmtree(link)
    else:
        link.unlink(missing_ok=True)
    folder = planted in ("models", "evidence")
    if folder:
        (outside / planted).mkdir()  # a folder that exists, which every page would land in
    link.symlink_to(outside / planted, target_is_directory=folder)

    assert cli.main(["report", str(out)]) == cli.EXIT_INPUT
    _one_line(capsys, str(link), "refusing to write through it")
    assert cli.main(["replay", "--out", str(out)]) == cli.EXIT_INPUT
    _one_line(capsys, str(link), "refusing to write through it")
    assert sorted(p.relative_to(outside) for p in outside.rglob("*")) == ([Path(planted)] if folder else [])


def test_a_symlink_in_place_of_a_file_written_in_place_is_refused(tmp_path: Path) -> None:
    (tmp_path / "victim").write_text("precious")
    for name in (RESULTS_FILE, ".conformance.lock"):
        (tmp_path / name).symlink_to(tmp_path / "victim")
    with pytest.raises(OSError, match="is a symlink"):
        ResultsWriter(tmp_path).append(ResultLine.model_validate(RESULT_LINE))
    with pytest.raises(OSError, match="is a symlink"):
        DirLock(tmp_path).acquire()
    assert (tmp_path / "victim").read_text() == "precious"


# -- cassettes keep what the server sent -----------------------------------------------------------------


def test_non_ascii_header_bytes_replay_as_recorded(server: FaultServer, tmp_path: Path) -> None:
    target = Target("faults", server.base_url, timeout_s=10)
    plan = Plan(target, ("fault:header_non_ascii",), (JSON,), RecordMode.ALL, tmp_path / "cassettes")
    Session(tmp_path / "live").run([plan])
    Session(tmp_path / "replay").run(replay_plans(tmp_path / "cassettes", probes=(JSON,)))
    live, replay = (_records(tmp_path / d / RESULTS_FILE)[0] for d in ("live", "replay"))
    assert live["status"] == replay["status"] == "PASS"
    assert live["exchanges"][0]["headers"] == replay["exchanges"][0]["headers"]
    headers = replay["exchanges"][0]["headers"]  # httpx reads the set as Latin-1, as one value is not UTF-8
    assert headers["x-latin"].encode("latin-1") == b"caf\xe9" and headers["x-utf8"].encode("latin-1") == "été".encode()


# -- durable results ------------------------------------------------------------------------------------


def _plan(server: FaultServer, tmp_path: Path, models: tuple[str, ...]) -> Plan:
    return Plan(Target("faults", server.base_url, timeout_s=10), models, (JSON,), None, tmp_path / "cassettes")


def test_a_torn_last_line_is_set_aside_on_resume(
    server: FaultServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = _plan(server, tmp_path, ("m1", "m2"))
    out = tmp_path / "out"
    Session(out).run([plan])
    lines = (out / RESULTS_FILE).read_bytes().splitlines(keepends=True)
    (out / RESULTS_FILE).write_bytes(lines[0] + lines[1][: len(lines[1]) // 2])  # killed mid-write
    state = json.loads((out / "run.json").read_text())
    (out / "run.json").write_text(json.dumps({**state, "complete": False}))

    Session(out).run([plan])
    assert "ended in an unfinished line" in capsys.readouterr().err
    records = list(_records(out / RESULTS_FILE))
    assert sorted(r["model"] for r in records) == ["m1", "m2"]
    assert (out / RESULTS_FILE).read_bytes().endswith(b"\n")
    assert len(list(out.glob(f"{RESULTS_FILE}.torn-*"))) == 1


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85", "\r", "\x0b", "\x1c"])
def test_a_line_separator_inside_a_string_does_not_end_a_results_line(separator: str, tmp_path: Path) -> None:
    record = {**RESULT_LINE, "title": f"one{separator}two"}
    ResultsWriter(tmp_path).append(ResultLine.model_validate(record))
    ResultsWriter(tmp_path).append(ResultLine.model_validate(RESULT_LINE))
    assert _records(tmp_path / RESULTS_FILE) == [record, RESULT_LINE]


def test_a_short_write_is_an_error_not_half_a_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "write", lambda fd, data: len(data) // 2)
    with pytest.raises(OSError, match="short write"):
        ResultsWriter(tmp_path).append(ResultLine.model_validate(RESULT_LINE))


def test_a_second_run_into_the_same_folder_is_refused_naming_the_holder(
    server: FaultServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lock = DirLock(tmp_path / "out")
    lock.acquire()
    try:
        with pytest.raises(LockHeld, match=f"pid {os.getpid()}"):
            Session(tmp_path / "out").run([_plan(server, tmp_path, ("m1",))])
        code = cli.main(["run", "--base-url", server.base_url, "--model", "m1", "--out", str(tmp_path / "out"), "-q"])
        assert code == cli.EXIT_INPUT and "in use by another run" in capsys.readouterr().err
    finally:
        lock.release()
    other = DirLock(tmp_path / "cassettes")
    other.acquire()
    try:
        plan = Plan(Target("faults", server.base_url), ("m1",), (JSON,), RecordMode.ALL, tmp_path / "cassettes")
        with pytest.raises(LockHeld, match="cassettes"):
            Session(tmp_path / "out2").run([plan])
    finally:
        other.release()
    Session(tmp_path / "out").run([_plan(server, tmp_path, ("m1",))])  # released: the next run goes ahead


# -- secrets in the base URL ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["http://user:s3cr3t@127.0.0.1:9/v1", "http://127.0.0.1:9/v1?api_key=s3cr3t", "http://127.0.0.1:9/v1#s3cr3t"]
)
def test_credentials_in_the_base_url_are_refused_without_echoing_them(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["run", "--base-url", url, "--out", str(tmp_path / "o"), "--cassettes", str(tmp_path / "c")]) == 3
    err = capsys.readouterr().err
    assert "the base URL carries" in err and "s3cr3t" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "c").exists() and not (tmp_path / "o").exists()


# -- bad local files and exit codes ------------------------------------------------------------------------


def _one_line(capsys: pytest.CaptureFixture[str], *fragments: str) -> None:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert all(f in err for f in fragments), err


def test_bad_local_files_are_one_line_naming_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = tmp_path / "run"
    results.mkdir()
    line = json.dumps(RESULT_LINE)
    (results / RESULTS_FILE).write_text(f"{line}\nnot json\n{line}\n")
    assert cli.main(["report", str(results)]) == cli.EXIT_INPUT
    _one_line(capsys, f"{results / RESULTS_FILE}:2", "not a JSON line")

    for wrong in ({"claim": "yes"}, {"drift": "maybe"}, {"exchanges": 5}, {"exchanges": ["x"]}, {"model": ["a"]}):
        (results / RESULTS_FILE).write_text(f"{line}\n{json.dumps({**RESULT_LINE, **wrong})}\n")
        assert cli.main(["report", str(results)]) == cli.EXIT_INPUT, wrong
        _one_line(capsys, f"{results / RESULTS_FILE}:2", "not a results line", next(iter(wrong)))

    (results / RESULTS_FILE).write_text("[" * 100_000 + "\n" + '{"a": 1}\n')
    assert cli.main(["report", str(results)]) == cli.EXIT_INPUT
    _one_line(capsys, f"{results / RESULTS_FILE}:1", "nested deeper")

    (results / RESULTS_FILE).write_bytes(b"\xff\xfe garbage\n")
    assert cli.main(["report", str(results)]) == cli.EXIT_INPUT
    _one_line(capsys, str(results / RESULTS_FILE), "not UTF-8")

    profile = tmp_path / "bad.toml"
    profile.write_bytes(b"\xff[provider\n")
    assert cli.main(["run", "--provider", str(profile), "--out", str(tmp_path / "o")]) == cli.EXIT_INPUT
    _one_line(capsys, str(profile), "not valid TOML")

    manifest = tmp_path / "cassettes" / "p" / "provider.json"
    manifest.parent.mkdir(parents=True)
    manifest.write_text('{"provider": "p", "base_url": ')
    assert cli.main(["replay", "--cassettes", str(tmp_path / "cassettes"), "--out", str(tmp_path / "o")]) == 3
    _one_line(capsys, str(manifest), "not valid JSON")

    manifest.write_text('{"provider": "p", "base_url": "http://h/v1", "models": 7}')
    assert cli.main(["replay", "--cassettes", str(tmp_path / "cassettes"), "--out", str(tmp_path / "o")]) == 3
    _one_line(capsys, str(manifest), "not a provider manifest", "models")

    matrix = tmp_path / "matrix.json"
    matrix.write_text('{"cells": [' + "[" * 5000)
    assert cli.main(["diff", str(matrix), str(matrix)]) == cli.EXIT_INPUT
    _one_line(capsys, str(matrix), "cannot read a matrix")

    good = {k: RESULT_LINE[k] for k in ("provider", "model", "probe", "status")}
    for cell in (
        7,
        {**good, "model": ["x"]},
        {k: v for k, v in good.items() if k != "status"},
        {**good, "status": ["PASS"]},
    ):
        matrix.write_text(json.dumps({"cells": [good, cell]}))
        assert cli.main(["diff", str(matrix), str(matrix)]) == cli.EXIT_INPUT, cell
        _one_line(capsys, str(matrix), "cell 2 is not a matrix cell")
        assert cli.main(["report", str(results), "--baseline", str(matrix)]) == cli.EXIT_INPUT, cell
        _one_line(capsys, str(matrix), "cell 2 is not a matrix cell")
        assert cli.main(["replay", "--baseline", str(matrix), "--out", str(tmp_path / "o")]) == cli.EXIT_INPUT, cell
        _one_line(capsys, str(matrix), "cell 2 is not a matrix cell")
        assert not (tmp_path / "o" / RESULTS_FILE).exists()  # refused before any cell ran


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real command, in a child given 60 s: a read that blocks fails the test rather than hanging it."""
    command = [sys.executable, "-m", "conformance.cli", *args]
    return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)


def test_local_files_that_are_not_files_are_refused_never_waited_on_or_read_whole(tmp_path: Path) -> None:
    """A FIFO blocked the read for ever, /dev/zero filled memory, a sparse file was read whole."""
    fifo, sparse = tmp_path / "fifo.toml", tmp_path / "sparse.toml"
    os.mkfifo(fifo)
    with sparse.open("wb") as handle:
        handle.truncate(64 * 1024 * 1024)
    out = ("--out", str(tmp_path / "o"))
    for args, named in (
        (("run", "--provider", str(fifo), *out), str(fifo)),
        (("run", "--provider", str(sparse), *out), str(sparse)),
        (("replay", "--baseline", str(fifo), *out), str(fifo)),
        (("diff", "/dev/zero", str(fifo)), "/dev/zero"),
    ):
        done = _cli(tmp_path, *args)
        assert done.returncode == cli.EXIT_INPUT, (args, done.stderr[-2000:])
        assert named in done.stderr and len(done.stderr.strip().splitlines()) == 1, (args, done.stderr)
        assert "not a regular file" in done.stderr or "more than such a file holds" in done.stderr, done.stderr

    report = tmp_path / "report"
    report.mkdir()
    os.mkfifo(report / RESULTS_FILE)
    done = _cli(tmp_path, "report", str(report))
    assert done.returncode == cli.EXIT_INPUT and "not a regular file" in done.stderr, done.stderr


def test_exit_codes_never_read_as_a_regression(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli.main(["diff", "--no-such-flag"]) == cli.EXIT_INPUT
    capsys.readouterr()
    matrix = tmp_path / "matrix.json"
    matrix.write_text('{"cells": []}')

    def broken(old: object, new: object) -> list[object]:
        raise KeyError("status")

    monkeypatch.setattr(cli, "diff", broken)
    assert cli.main(["diff", str(matrix), str(matrix)]) == cli.EXIT_INTERNAL
    _one_line(capsys, "internal error: KeyError", "test_hostile.py")
    assert len({cli.EXIT_REGRESSION, cli.EXIT_HARNESS, cli.EXIT_INPUT, cli.EXIT_INTERNAL}) == 4


# -- the per-cell bounds, one by one ------------------------------------------------------------------------


def test_judging_past_its_budget_is_an_error_cell(monkeypatch: pytest.MonkeyPatch) -> None:
    import conformance.runner as runner

    monkeypatch.setattr(runner, "judge", lambda *args: time.sleep(2) or (Status.PASS, []))
    status, findings = runner.judge_within(JSON, [], True, [], budget_s=0.2)
    assert status is Status.ERROR and findings[0].rule == "harness.judge_time"
    assert "judging took more than 0.2s of CPU, or 0.6s in all" in findings[0].message

    def busy(*args: object) -> tuple[Status, list[object]]:
        end = time.monotonic() + 2
        while time.monotonic() < end:
            pass
        return Status.PASS, []

    monkeypatch.setattr(runner, "judge", busy)
    assert runner.judge_within(JSON, [], True, [], budget_s=0.2)[0] is Status.ERROR


def test_a_judge_off_its_core_is_not_charged_for_the_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """Judging's budget is its own CPU: on a loaded machine (here a sleep) its wall time stretches, and the cell
    used to be ERROR for it."""
    import conformance.runner as runner

    monkeypatch.setattr(runner, "judge", lambda *args: time.sleep(0.3) or (Status.PASS, []))
    assert runner.judge_within(JSON, [], True, [], budget_s=0.2) == (Status.PASS, [])


def test_a_judge_past_its_budget_is_stopped_not_left_running(monkeypatch: pytest.MonkeyPatch) -> None:
    """Left running, it kept a core and the interpreter lock for as long as its answer took to judge."""
    import threading

    import conformance.runner as runner

    ended = threading.Event()

    def costly(*args: object) -> tuple[Status, list[object]]:
        until = time.monotonic() + 10
        try:
            while time.monotonic() < until:
                pass
        finally:
            ended.set()
        return Status.PASS, []

    monkeypatch.setattr(runner, "judge", costly)
    status, findings = runner.judge_within(JSON, [], True, [], budget_s=0.2)
    assert status is Status.ERROR and findings[0].rule == "harness.judge_time"
    assert ended.wait(3), "the judge ran on past its budget"


def test_a_judge_waiting_for_a_free_core_does_not_spend_its_budget_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    import conformance.runner as runner

    busy = threading.BoundedSemaphore(1)
    monkeypatch.setattr(runner, "JUDGES", busy)
    monkeypatch.setattr(runner, "judge", lambda *args: (Status.PASS, []))
    outcome: list[tuple[Status, list[object]]] = []
    with busy:  # every core is judging another cell, for longer than this one's budget
        waiting = threading.Thread(target=lambda: outcome.append(runner.judge_within(JSON, [], True, [], 0.2)))
        waiting.start()
        time.sleep(0.5)
    waiting.join(10)
    assert outcome == [(Status.PASS, [])]


def test_findings_are_grouped_cut_and_scrubbed() -> None:
    from conformance.evidence import Finding, Level
    from conformance.runner import MAX_MESSAGE, MAX_SAME_RULE, bounded_findings

    many = [Finding("stream.grammar", Level.MUST, f"event #{i}: bad {KEY.upper()}") for i in range(5000)]
    long = Finding("core.json_body", Level.MUST, "x" * 100_000)
    kept = bounded_findings([*many, long], [KEY])
    assert len(kept) == MAX_SAME_RULE + 2
    assert kept[-1].message == f"and {5000 - MAX_SAME_RULE} more stream.grammar findings"
    assert all(KEY.lower() not in f.message.lower() for f in kept)
    assert len(kept[MAX_SAME_RULE].message) < MAX_MESSAGE + 100


def test_evidence_written_is_bounded_and_says_what_was_cut() -> None:
    from conformance.runner import EVIDENCE_BODY, EVIDENCE_EVENTS, bounded_evidence

    big = bounded_evidence({"body": "x" * (EVIDENCE_BODY + 10)})
    assert len(big["body"]) == EVIDENCE_BODY and big["body_omitted_chars"] == 10
    events = bounded_evidence({"events": [{"data": str(i)} for i in range(EVIDENCE_EVENTS + 7)]})
    assert len(events["events"]) == EVIDENCE_EVENTS and events["events_omitted"] == 7
    assert events["events"][-1] == {"data": str(EVIDENCE_EVENTS + 6)}, "the end of a stream is kept"


def test_the_models_command_is_bounded_and_inert(server: FaultServer, capsys: pytest.CaptureFixture[str]) -> None:
    drip = server.base_url.replace("/v1", "/catalog_drip/v1")
    started = time.perf_counter()
    assert cli.main(["models", "--base-url", drip, "--timeout", "2"]) == 1  # no model: the catalog never finished
    assert time.perf_counter() - started < 2 + 5
    capsys.readouterr()
    hostile = server.base_url.replace("/v1", "/catalog_hostile_ids/v1")
    assert cli.main(["models", "--base-url", hostile, "--timeout", "10"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\u202e" not in out and "\\x1b]0;owned" in out
    assert not any(line.startswith("FAKE PASS") for line in out.splitlines())


def test_a_result_json_cannot_hold_is_an_error_line(server: FaultServer, tmp_path: Path) -> None:
    from dataclasses import replace

    import conformance.session as session

    planned = session.run_planned

    def infinite(*args: object) -> object:
        result = planned(*args)  # type: ignore[arg-type]
        return replace(result, extra={**result.extra, "wait_s": object()})  # no JSON form

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(session, "run_planned", infinite)
        Session(tmp_path / "out").run([_plan(server, tmp_path, ("m1",))])
    record = _records(tmp_path / "out" / RESULTS_FILE)[0]
    assert record["status"] == "ERROR" and "writing the cell's result" in record["findings"][0]["message"]


def test_a_client_librarys_serializer_warnings_quoting_server_data_are_not_printed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import warnings

    def warns(args: object) -> int:
        warnings.warn(
            "Pydantic serializer warnings:\n  Expected `str` - got {'server': 'data'}", UserWarning, stacklevel=1
        )
        return 0

    monkeypatch.setattr(cli, "_main", warns)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        assert cli.main(["probes"]) == 0
    assert not [w for w in seen if "serializer" in str(w.message)]


def test_many_cells_judged_at_once_in_threads_never_crash_the_run() -> None:
    """A live run judges each cell in a thread, many at once: reading an ended thread's CPU clock from outside
    read freed memory and killed the run with a segfault. Run in a child, so a crash fails this test alone."""
    script = """
import threading
from conformance import runner
from conformance.evidence import Status
from conformance.probes import BY_ID
from conformance.records import MatrixCell, ResultLine
runner.JUDGES = threading.BoundedSemaphore(64)
runner.judge = lambda *args: (Status.PASS, [])
probe = BY_ID["core.text_input"]
def many():
    for _ in range(400):
        assert runner.judge_within(probe, [], True, [], budget_s=5) == (Status.PASS, [])
threads = [threading.Thread(target=many) for _ in range(16)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])


def test_a_stop_a_destructor_swallows_leaves_stderr_alone() -> None:
    """Raised into a judge, the stop can land in a destructor, which prints it ("Exception ignored in")."""
    import conformance.runner as runner

    class Stopped:
        def __del__(self) -> None:
            raise runner._OverBudget

    class Broken:
        def __del__(self) -> None:
            raise ValueError("a real problem")

    seen: list[Any] = []
    previous = sys.unraisablehook
    sys.unraisablehook = seen.append
    try:
        runner.quiet_stray_stops()
        Stopped()
        Broken()
    finally:
        sys.unraisablehook = previous
    assert [type(u.exc_value) for u in seen] == [ValueError]


def _swallowing_judge(*args: object) -> tuple[Status, list[object]]:
    """A judge whose first stops (the CPU timer's, then the wall clock's) are swallowed, as a destructor or a gc
    callback would, then runs on for 20 s."""
    import conformance.runner as runner

    until = time.monotonic() + 20
    for _ in range(2):
        try:
            while time.monotonic() < until:
                pass
        except runner._OverBudget:
            pass
    while time.monotonic() < until:
        pass
    return Status.PASS, []


def _judged_in_a_timed_worker(answer: Any) -> None:
    import conformance.runner as runner

    runner.judge_by_timer()
    runner.judge = _swallowing_judge  # type: ignore[assignment]  # this forked process's own
    started = time.monotonic()
    status, findings = runner.judge_within(JSON, [], True, [], budget_s=0.2)
    answer.send((status.value, findings[0].rule if findings else None, time.monotonic() - started))


def test_a_timed_judge_whose_first_stops_were_swallowed_is_stopped_again() -> None:
    """In a replay worker the stop is a timer signal: each fired once, swallowed stops left the judge unbounded."""
    import multiprocessing

    mine, theirs = multiprocessing.get_context("fork").Pipe()
    worker = multiprocessing.get_context("fork").Process(target=_judged_in_a_timed_worker, args=(theirs,))
    worker.start()
    try:
        assert mine.poll(10), "the judge ran on past its budget"
        status, rule, took = mine.recv()
    finally:
        worker.kill()
        worker.join(5)
    assert (status, rule) == ("ERROR", "harness.judge_time")
    assert took < 5


@pytest.mark.parametrize(
    ("waits_s", "said"),
    [(0.0, "the probe's script ended without sending a request"), (0.5, "deadline of 0.2s passed before")],
)
def test_a_cell_whose_script_sent_nothing_says_why(waits_s: float, said: str) -> None:
    """A client library that sent nothing in time (still loading on a loaded machine) left an ERROR with no reason."""
    import dataclasses
    from collections.abc import Generator

    import httpx

    from conformance.evidence import Exchange
    from conformance.probes import Request

    def script(model: str) -> Generator[Request, Exchange, None]:
        time.sleep(waits_s)
        yield from ()

    probe = dataclasses.replace(JSON, script=script)
    unused = httpx.MockTransport(lambda request: httpx.Response(500))
    result = run_cell(probe, "m", Target("p", "http://conformance.invalid/v1", timeout_s=0.2), lambda p, m: unused)
    assert result.status is Status.ERROR and result.exchanges == ()
    assert result.findings and result.findings[0].rule == "harness.nothing_sent"
    assert said in result.findings[0].message


def test_loading_a_client_library_is_not_the_servers_time(server: FaultServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading the Agents SDK takes a loaded machine seconds: counted in the probe's deadline, the library sent
    nothing in time, and the cell was the server's ERROR."""
    from conformance.checks import clients

    loads = clients.Client.missing

    def slow(self: clients.Client) -> str | None:
        time.sleep(1.0)
        return loads(self)

    monkeypatch.setattr(clients.Client, "missing", slow)
    result = run_cell(
        BY_ID["clients.agents_sdk"],
        "fault:normal",
        Target("faults", server.base_url, timeout_s=0.8),
        lambda p, m: live_transport(),
    )
    assert result.exchanges, result.findings[:1]
