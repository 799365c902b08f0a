"""No part of the key reaches what the suite writes or prints, whichever text of a server's quotes it.

tests/test_canary.py searches a whole recorded run for the key; these cases are the texts it cannot
reach through cells: a catalog's answers (its problems, warnings and model ids), the preflight's
refusal, and quotes cut short, where a scrub after the cut meets only part of the key. So every
search here is for any stretch of the key, not the whole of it.
"""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance import cli
from conformance.catalog.fetch import fetch_catalog
from conformance.evidence import Finding, Level
from conformance.plan import Plan, replay_plans
from conformance.preflight import preflight
from conformance.probes import BY_ID
from conformance.profiles import profile_for
from conformance.records import CatalogRecord
from conformance.redact import guard, scrub_across
from conformance.results import RESULTS_FILE, read_results
from conformance.runner import MAX_MESSAGE, Target, bounded_findings
from conformance.schedule import Pacing
from conformance.session import Session
from conformance.terminal import InertStream
from conformance.transports import RecordMode
from conformance.transports.cassette import Chunk, cassette_path, load_cassette, scrub_stream
from conformance.transports.deadline import live_transport
from tests.faults.server import FaultServer
from tests.sidecars import readable
from tests.test_canary import undo_codings

KEY_ENV = "CONFORMANCE_LEAK_KEY"
STREAM = BY_ID["streaming.text"]
STRETCH = 12  # characters of the key that are already too many to show
CATALOGS = ("catalog_echo_key_refused", "catalog_echo_key_html", "catalog_echo_key_ids", "catalog_echo_key_reason")


@pytest.fixture
def key() -> str:
    return f"sk-Leak-{uuid.uuid4().hex.upper()}{uuid.uuid4().hex}"


@pytest.fixture(scope="module")
def server() -> Iterator[FaultServer]:
    with FaultServer() as srv:
        yield srv


def shows(text: str, key: str) -> bool:
    """Whether the text holds any STRETCH characters of the key, in any letter case."""
    lowered, needle = text.lower(), key.lower()
    return any(needle[i : i + STRETCH] in lowered for i in range(len(needle) - STRETCH + 1))


def written(root: Path, key: str) -> list[str]:
    """Every file under root whose name or content shows part of the key."""
    return [
        str(p)
        for p in sorted(root.rglob("*"))
        if shows(str(p.relative_to(root)), key) or (p.is_file() and shows(readable(p).decode("latin-1"), key))
    ]


def _catalog_url(server: FaultServer, fault: str) -> str:
    return server.base_url.replace("/v1", f"/{fault}/v1")


@pytest.mark.parametrize("fault", CATALOGS)
def test_a_catalog_echoing_the_key_is_scrubbed_before_anything_quotes_it(
    fault: str, server: FaultServer, key: str
) -> None:
    profile = profile_for(None, _catalog_url(server, fault))
    assert profile is not None
    catalog = fetch_catalog(profile, live_transport, api_key=key, timeout_s=10)
    snapshot = json.dumps(CatalogRecord.of(catalog).model_dump(mode="json"), ensure_ascii=False)
    assert not shows(snapshot, key), snapshot
    assert "REDACTED" in snapshot


def test_a_model_id_that_held_the_key_is_not_run_and_says_so(server: FaultServer, key: str) -> None:
    profile = profile_for(None, _catalog_url(server, "catalog_echo_key_ids"))
    assert profile is not None
    catalog = fetch_catalog(profile, live_transport, api_key=key, timeout_s=10)
    assert [e.id for e in catalog.entries] == ["fault:normal"]
    held = [w for w in catalog.warnings if "a model id held the API key" in w]
    assert held == ["openai_models: a model id held the API key, so it is not run: fault:normal#REDACTED"]


@pytest.mark.parametrize("fault", CATALOGS)
def test_a_run_and_the_models_command_over_such_a_catalog_write_and_print_none_of_the_key(
    fault: str,
    server: FaultServer,
    key: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    monkeypatch.setenv(KEY_ENV, key)
    url = _catalog_url(server, fault)
    common = ["--base-url", url, "--api-key-env", KEY_ENV, "--timeout", "10"]
    run = ["run", *common, "--record-mode", "all", "--probe", "core.text_input", "--cassettes", str(tmp_path / "c")]
    assert cli.main([*run, "--out", str(tmp_path / "unread")]) in (0, cli.EXIT_INPUT)
    assert cli.main([*run, "--model", "fault:normal", "--out", str(tmp_path / "out")]) == 0
    cli.main(["models", *common])
    cli.main(["models", *common, "--json"])
    printed = capsys.readouterr()
    assert not shows(printed.out + printed.err + caplog.text, key), printed.err
    assert written(tmp_path, key) == []
    assert (tmp_path / "c" / profile_for(None, url).name / "provider.json").is_file()  # type: ignore[union-attr]


def test_the_terminal_never_shows_a_guarded_key(key: str) -> None:
    """Whatever line quotes it, and however it came to be made: every printed line passes one scrub."""
    guard([key])
    shown = io.StringIO()
    InertStream(shown).write(f"catalog: openai_models: {key.upper()} and {json.dumps(key)}\n")
    assert not shows(shown.getvalue(), key) and "REDACTED" in shown.getvalue()


def test_a_refusal_quoting_the_key_across_the_cut_names_none_of_it(server: FaultServer, key: str) -> None:
    target = Target("faults", server.base_url, api_key=key, timeout_s=10)
    problem = preflight(target, "fault:echo_key_refused_long", Pacing(), KEY_ENV)
    assert problem is not None and "was refused" in problem.message
    assert not shows(problem.message, key), problem.message


def test_a_finding_is_scrubbed_before_it_is_cut(key: str) -> None:
    message = "x" * (MAX_MESSAGE - len(key) // 2) + key
    kept = bounded_findings([Finding("core.json_body", Level.MUST, message)], [key])
    assert not shows(kept[0].message, key), kept[0].message[-100:]


@pytest.mark.parametrize("fault", ["echo_key_split", "echo_key_split_gzip", "echo_key_split_stacked"])
def test_a_key_split_across_coded_events_is_cut_from_each_and_replays_as_it_ran(
    fault: str, server: FaultServer, key: str, tmp_path: Path
) -> None:
    """Coded or not, the cassette keeps each delta's share of the key cut out, as the live checks saw it."""
    target = Target("faults", server.base_url, api_key=key, timeout_s=10)
    plan = Plan(target, (f"fault:{fault}",), (STREAM,), RecordMode.ALL, tmp_path / "cassettes")
    Session(tmp_path / "live").run([plan])
    Session(tmp_path / "replay").run(replay_plans(tmp_path / "cassettes", probes=(STREAM,)))
    live, replayed = (next(read_results(tmp_path / run / RESULTS_FILE)).written() for run in ("live", "replay"))
    assert live["status"] == replayed["status"] == "PASS", replayed["findings"]
    events = replayed["exchanges"][0]["events"]
    deltas = [json.loads(e["data"])["delta"] for e in events if e["event"] == "response.output_text.delta"]
    assert deltas == ["Key: ", "REDACTED", "", " end"]
    [interaction] = load_cassette(
        cassette_path(tmp_path / "cassettes", "faults", f"fault:{fault}", STREAM.id)
    ).interactions
    coding = interaction.headers.get("content-encoding", "")
    assert coding == {"echo_key_split": "", "echo_key_split_gzip": "gzip"}.get(fault, "deflate, gzip")
    body = undo_codings(coding, b"".join(c.data for c in interaction.chunks))
    assert not shows(body.decode("latin-1"), key) and b"REDACTED" in body
    assert written(tmp_path, key) == []


def test_every_attempt_of_a_retried_cell_is_written_scrubbed_and_bounded(
    server: FaultServer, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cell failed on meaning is tried again, and each attempt's findings are written beside the last."""
    from conformance import runner
    from conformance.evidence import Status

    quoted = Finding("semantic.answer_mentions", Level.MUST, f"got {key} " + "x" * (2 * MAX_MESSAGE))
    monkeypatch.setattr(runner, "judge_within", lambda *args, **kwargs: (Status.IGNORED, [quoted]))
    target = Target("faults", server.base_url, api_key=key, timeout_s=10, semantic_tries=2)
    result = runner.run_cell(BY_ID["core.text_input"], "fault:normal", target, lambda p, m: live_transport())
    assert len(result.extra["attempts"]) == 2
    assert not shows(json.dumps(result.extra), key), "an attempt's findings quote the key"
    assert all(len(f["message"]) < MAX_MESSAGE + 100 for a in result.extra["attempts"] for f in a["findings"])


def test_a_key_split_across_output_items_is_cut_from_each_and_replays_as_it_ran(
    server: FaultServer, key: str, tmp_path: Path
) -> None:
    """A client joins output_text across items, and so do the checks: on replay, with no key to scrub
    with, the cassette must already hold each item's share cut out."""
    probes = (BY_ID["core.text_input"], BY_ID["core.multi_turn"])  # the second quotes the joined text
    target = Target("faults", server.base_url, api_key=key, timeout_s=10)
    plan = Plan(target, ("fault:echo_key_split_items",), probes, RecordMode.ALL, tmp_path / "cassettes")
    Session(tmp_path / "live").run([plan])
    Session(tmp_path / "replay").run(replay_plans(tmp_path / "cassettes", probes=probes))
    live, replayed = (
        {r.probe: r.written() for r in read_results(tmp_path / run / RESULTS_FILE)} for run in ("live", "replay")
    )
    assert {p: r["status"] for p, r in live.items()} == {p: r["status"] for p, r in replayed.items()}
    body = json.loads(replayed["core.text_input"]["exchanges"][0]["body"])
    assert [item["content"][0]["text"] for item in body["output"]] == ["Key: REDACTED", " end"]
    assert written(tmp_path, key) == []


def test_a_share_written_in_an_escaping_not_found_as_such_is_cut_from_the_body_reserialised(key: str) -> None:
    from conformance.redact import scrub_json_text

    half = len(key) // 2
    first = "\\u" + f"{ord(key[0]):04x}" + key[1:half]  # the first share's first letter escaped
    text = f'{{"output": [{{"text": "Key: {first}"}}, {{"text": "{key[half:]} end"}}]}}'
    cut = scrub_json_text(text, [key])
    assert json.loads(cut) == {"output": [{"text": "Key: REDACTED"}, {"text": " end"}]}
    assert not shows(cut, key[1:]) and not shows(cut, key[half:])


def test_a_key_split_across_the_strings_of_a_body_after_a_bom_is_cut_from_each_share(key: str) -> None:
    """Hand-made: the checks read a JSON body after a byte order mark, as the SDKs do, so its shares are cut too."""
    from conformance.redact import scrub_json_text

    half = len(key) // 2
    text = f'\ufeff{{"output": [{{"text": "Key: {key[:half]}"}}, {{"text": "{key[half:]} end"}}]}}'
    cut = scrub_json_text(text, [key])
    assert cut.startswith("\ufeff") and not shows(cut, key[:half]) and not shows(cut, key[half:])


def _sse(*events: dict[str, str]) -> list[Chunk]:
    return [Chunk(float(n), f"data: {json.dumps(e)}\n\n".encode()) for n, e in enumerate(events)]


def test_a_key_split_across_nested_fields_of_events_is_cut_from_each_share() -> None:
    """Two messages' `part.text` join into a client's output_text, as deltas do; a hand-made stream."""
    key = "sk-Nested-Key-0123456789abcdef"
    chunks = _sse({"part": {"text": f"Key: {key[:12]}"}}, {"part": {"text": f"{key[12:]} end"}})
    kept = scrub_stream(chunks, [key])
    assert kept is not None
    texts = [json.loads(c.data.decode()[len("data: ") :])["part"]["text"] for c in kept]
    assert texts == ["Key: REDACTED", " end"]
    assert scrub_across([c.data.decode()[len("data: ") :].strip() for c in chunks], [key]) == [
        json.dumps({"part": {"text": "Key: REDACTED"}}),
        json.dumps({"part": {"text": " end"}}),
    ]


def test_a_share_whose_text_shows_first_elsewhere_is_not_kept_half_cut() -> None:
    """The byte search for a delta's share finds the same text earlier in its event: the wrong string would be
    cut and the key kept, split across the deltas, so the stream is not kept at all; a hand-made stream."""
    key = "sk-Shared-Key-0123456789abcdef"
    chunks = _sse({"note": key[:12], "delta": key[:12]}, {"delta": key[12:]})
    assert scrub_stream(chunks, [key]) is None


def test_a_model_id_that_held_the_key_when_recorded_is_not_replayed(
    server: FaultServer, key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The recorded catalog shows it as `...REDACTED`; replay has no key to recognise it by, and used to run it,
    every cell an ERROR for want of a cassette."""
    monkeypatch.setenv(KEY_ENV, key)
    url = _catalog_url(server, "catalog_echo_key_ids")
    cassettes = ["--cassettes", str(tmp_path / "c"), "--probe", "core.text_input"]
    record = ["run", "--base-url", url, "--api-key-env", KEY_ENV, "--timeout", "10", "--record-mode", "all"]
    assert cli.main([*record, *cassettes, "--out", str(tmp_path / "live")]) == 0
    capsys.readouterr()
    monkeypatch.delenv(KEY_ENV)
    replay = ["run", "--base-url", url, "--timeout", "10", "--record-mode", "none", *cassettes]
    assert cli.main([*replay, "--out", str(tmp_path / "replay")]) == 0
    assert "a model id held the API key, so it is not run" in capsys.readouterr().err
    for run in ("live", "replay"):
        assert {r.model for r in read_results(tmp_path / run / RESULTS_FILE)} == {"fault:normal"}, run
