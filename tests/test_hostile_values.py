"""Round four of the hostile cases: values that parse but cannot be used, in a profile, a catalog or a cassette.

Every fixture here is hand-made to be hostile. A file or an answer that reads without error can still
hold what no request can carry (a TOML date, nan), what a recursive reader cannot walk, an id that every
written line repeats, or what costs far more to hold than its size promises; each is one clear line, a
warning or an ERROR cell, never a crash or a blow-up.
"""

from __future__ import annotations

import json
import resource
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance import cli, safejson
from conformance import manifest as manifest_module
from conformance.catalog.parsers import MAX_MODEL_ID, parse_ovh_models_v2
from conformance.expectations import load as load_expectations
from conformance.manifest import read_manifest, write_manifest
from conformance.paths import MANIFEST
from conformance.plan import Plan, replay_plans
from conformance.probes import BY_ID
from conformance.profiles import MAX_BODY_CAP_BYTES, MAX_MODELS, MAX_PER_MINUTE, ProfileError, load_profile
from conformance.results import RESULTS_FILE, read_results
from conformance.runner import Target
from conformance.session import Session
from conformance.transports import RecordMode
from conformance.transports.cassette import MAX_CASSETTE_TOKENS, CassetteError, cassette_path, load_cassette
from tests.faults.server import LONG_ID, FaultServer

JSON, STREAM = BY_ID["core.text_input"], BY_ID["streaming.text"]
HEAD = '[provider]\nname = "p"\nbase_url = "http://127.0.0.1:9/v1"\n'  # loopback's discard port: never reached


@pytest.fixture(scope="module")
def server() -> Iterator[FaultServer]:
    with FaultServer() as srv:
        yield srv


def _one_line(capsys: pytest.CaptureFixture[str], *fragments: str) -> None:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err and "internal error" not in err, err
    assert all(f in err for f in fragments), err


@pytest.mark.parametrize(
    ("toml", "said"),
    [
        ("request_defaults = { when = 1979-05-27T07:32:00Z }\n", "request_defaults: not a JSON value"),
        ("request_defaults = { temperature = nan }\n", "request_defaults: not a JSON value"),
        ("request_defaults = { top_p = -inf }\n", "request_defaults: not a JSON value"),
        ("request_defaults = { at = 07:32:00 }\n", "request_defaults: not a JSON value"),
        ("request_defaults = { x = " + "[" * 150 + "]" * 150 + " }\n", "nested deeper than 100 levels"),
        ("request_defaults = { x = " + "[" * 5000 + "]" * 5000 + " }\n", "nested too deep"),
        ("request_defaults = " + "{a=" * 5000 + "1" + "}" * 5000 + "\n", "nested too deep"),
    ],
    ids=["datetime", "nan", "inf", "time", "deep", "deeper-than-tomllib", "deep-tables"],
)
def test_a_profile_value_no_request_can_carry_is_one_line_naming_it(
    toml: str, said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Hand-made: a TOML date became exit 4 (an internal error) at the first request; nan a line naming no file;
    deep nesting a RecursionError in tomllib."""
    profile = tmp_path / "hostile.toml"
    profile.write_text(HEAD + toml)
    with pytest.raises(ProfileError, match=said):
        load_profile(str(profile))
    assert cli.main(["run", "--provider", str(profile), "--out", str(tmp_path / "o")]) == cli.EXIT_INPUT
    _one_line(capsys, str(profile), said)


def test_a_dotted_claim_key_of_thousands_of_parts_is_read_without_recursion(tmp_path: Path) -> None:
    """Hand-made: each part of an unquoted dotted key is one more nested table, which the claims were
    flattened from by recursion."""
    profile = tmp_path / "dotted.toml"
    profile.write_text(HEAD + "[claims]\n" + ".".join(["nosuchgroup"] + ["a"] * 3000) + ' = "yes"\n')
    with pytest.raises(ProfileError, match="unknown feature group 'nosuchgroup'"):
        load_profile(str(profile))
    profile.write_text(HEAD + '[claims]\ntools = "no"\n' + ".".join(["core"] + ["a"] * 3000) + ' = "yes"\n')
    claims = load_profile(str(profile)).claims
    assert claims.provider["tools"].value == "no" and len(claims.provider) == 2


def test_expectations_nested_past_the_toml_reader_are_a_value_error(tmp_path: Path) -> None:
    path = tmp_path / "peer.toml"
    path.write_text('["m"]\n"core.text_input" = { status = ' + "[" * 5000 + "]" * 5000 + " }\n")
    with pytest.raises(ValueError, match="nested too deep"):
        load_expectations(path)


def test_a_catalog_model_id_of_megabytes_is_skipped_with_one_short_warning(
    server: FaultServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Hand-made: one 4 MB id made a 13-cell run write 321 MB (results, matrix, junit, a page per probe)."""
    base = server.base_url.replace("/v1", "/catalog_long_id/v1")
    out = tmp_path / "o"
    assert cli.main(["run", "--base-url", base, "--probe", JSON.id, "--timeout", "5", "--out", str(out), "-q"]) == 0
    err = capsys.readouterr().err
    assert f"is {len(LONG_ID)} characters long, more than {MAX_MODEL_ID}; skipped" in err and len(err) < 2_000, err
    assert {line.model for line in read_results(out / RESULTS_FILE)} == {"fault:normal"}
    assert sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) < 2 * 1024 * 1024


def test_a_catalog_read_whole_that_gives_no_model_says_so_not_that_it_could_not_be_read(
    server: FaultServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Hand-made: every model the catalog listed was skipped, and the run said the catalog 'could not be read
    (...: 200)'."""
    base = server.base_url.replace("/v1", "/catalog_only_long_id/v1")
    assert cli.main(["run", "--base-url", base, "--timeout", "5", "--out", str(tmp_path / "o"), "-q"]) != 0
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert "listed no model the suite runs" in last and "could not be read" not in last, last


def test_a_cassette_of_millions_of_tiny_values_is_refused_before_it_is_parsed(
    server: FaultServer, tmp_path: Path
) -> None:
    """Hand-made: a stream's recorded chunks padded with 2.3 million empty ones (`{"offset_ms":1,"body":""}`),
    within the 64 MiB cap, took 2.3 GB and 33 s to replay, and its cell passed."""
    cassettes = tmp_path / "c"
    plan = Plan(
        Target("faults", server.base_url, timeout_s=10), ("fault:normal",), (STREAM,), RecordMode.ALL, cassettes
    )
    Session(tmp_path / "live").run([plan])
    path = cassette_path(cassettes, "faults", "fault:normal", STREAM.id)
    recorded = json.loads(path.read_text())
    assert not safejson.tokens_past(path.read_text(), MAX_CASSETTE_TOKENS // 100), "a recording is far under the bound"
    chunks = recorded["interactions"][0]["response"]["chunks"]
    chunks += [{"offset_ms": 1, "body": ""}] * (MAX_CASSETTE_TOKENS // 3)
    path.write_text(json.dumps(recorded, separators=(",", ":")))

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(CassetteError, match=f"more than {MAX_CASSETTE_TOKENS:,} JSON values"):
        load_cassette(path)
    assert (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024 < 64 * 1024 * 1024
    Session(tmp_path / "replay").run(replay_plans(cassettes, probes=(STREAM,)))
    (cell,) = (line for line in read_results(tmp_path / "replay" / RESULTS_FILE) if line.probe == STREAM.id)
    assert cell.status == "ERROR" and cell.findings[0].rule == "harness.cassette", cell


@pytest.mark.parametrize(
    ("text", "past"),
    [
        ('{"a": [1, 2], "b": {"c": "d"}}', False),
        ('{"a": "' + ",[{" * 1000 + '"}', False),  # inside a string: no value
        ('{"a": "' + '\\"' * 1000 + '"}', False),  # escaped quotes do not end the string
        ("[" + ",".join(["{}"] * 60) + "]", True),
        ("[" + ",".join(['"x"'] * 60) + "]", True),
    ],
)
def test_tokens_are_counted_outside_strings(text: str, past: bool) -> None:
    assert safejson.tokens_past(text, 50) is past


def test_a_manifest_listing_more_models_than_a_run_takes_is_one_line_and_runs_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Hand-made: a 1 MB provider.json listing 100,000 models (no cassette for any) made a one-probe replay
    run past five minutes, hold 4.5 GB and write 462 MB of NOT RUN cells before it was killed."""
    manifest = tmp_path / "c" / "p" / MANIFEST
    manifest.parent.mkdir(parents=True)
    models = [f"m{n}" for n in range(MAX_MODELS + 1)]
    manifest.write_text(json.dumps({"provider": "p", "base_url": "http://p.test/v1", "models": models}))
    out = tmp_path / "o"
    assert cli.main(["replay", "--cassettes", str(tmp_path / "c"), "--out", str(out), "--probe", JSON.id]) == 3
    _one_line(capsys, str(manifest), "not a provider manifest", f"at most {MAX_MODELS} items")
    assert not (out / RESULTS_FILE).exists()


def test_a_profile_declaring_more_models_than_a_run_takes_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = tmp_path / "many.toml"
    profile.write_text(HEAD + "[catalog]\nmodels = [" + ", ".join(f'"m{n}"' for n in range(MAX_MODELS + 1)) + "]\n")
    assert cli.main(["run", "--provider", str(profile), "--out", str(tmp_path / "o")]) == cli.EXIT_INPUT
    _one_line(capsys, str(profile), "[catalog] models", f"at most {MAX_MODELS} items")


def test_a_manifest_keeps_this_runs_models_and_as_many_earlier_ones_as_it_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(manifest_module, "MAX_MODELS", 4)
    target = Target("p", "http://p.test/v1")
    write_manifest(tmp_path, target, ["e1", "e2", "e3"], None)
    write_manifest(tmp_path, target, ["n2", "n1"], None)
    assert read_manifest(tmp_path / "p" / MANIFEST).models == ["e1", "e2", "n1", "n2"]


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("http://alice:hunter2-secret@127.0.0.1:9/v1/models", "user information"),
        ("http://127.0.0.1:9/v1/models?api_key=hunter2-secret", "a query parameter named 'api_key'"),
    ],
)
def test_a_catalog_url_carrying_a_credential_is_refused_without_echoing_it(
    url: str, said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Hand-made: the base URL was refused for this, a catalog source's URL was not; its credential was
    printed and written into the catalog snapshot, provider.json and the catalog cassette."""
    profile = tmp_path / "source.toml"
    profile.write_text(HEAD + f'[[catalog.sources]]\nkind = "openai_models"\nurl = "{url}"\n')
    assert cli.main(["run", "--provider", str(profile), "--out", str(tmp_path / "o")]) == cli.EXIT_INPUT
    _one_line(capsys, str(profile), "[catalog] sources[0] url: carries", said)
    assert not (tmp_path / "o").exists()
    with pytest.raises(ProfileError) as refused:
        load_profile(str(profile))
    assert "hunter2" not in str(refused.value)


def test_a_catalog_count_of_minus_one_is_a_warning_not_a_dead_run(
    server: FaultServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Hand-made: a context length or a rate limit of -1 ("unknown", "unlimited") was read as given, and the
    catalog snapshot refused it: the run stopped before any cell with a raw multi-line validation error."""
    sources = "".join(
        f'[[catalog.sources]]\nkind = "{kind}"\nurl = "{server.base_url.replace("/v1", f"/{name}/v1")}/models"\n'
        for kind, name in (
            ("openai_models", "catalog_unknown_as_minus_one"),
            ("ovh_models_v2", "catalog_ovh_unlimited"),
        )
    )
    profile = tmp_path / "minus.toml"
    profile.write_text(f'[provider]\nname = "minus"\nbase_url = "{server.base_url}"\n{sources}')
    out = tmp_path / "o"
    assert cli.main(["run", "--provider", str(profile), "--probe", JSON.id, "--timeout", "5", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "rate_limit_api is not a per-minute request count: number -1; ignored" in err, err
    assert [line.status for line in read_results(out / RESULTS_FILE) if line.probe == JSON.id] == ["PASS"]
    (snapshot,) = (out / "catalogs").iterdir()
    (entry,) = json.loads(snapshot.read_text())["models"]
    assert entry["context_length"] is entry["rate_limit_per_min"] is entry["rate_limit_anonymous_per_min"] is None


@pytest.mark.parametrize(
    "rate", [-1, 0, 10**400, "9" * 5000 + "/min", "0 rpm"], ids=["minus-one", "zero", "huge", "huge-text", "zero-text"]
)
def test_a_catalog_rate_limit_no_pacer_can_take_is_a_warning(rate: object) -> None:
    """Hand-made: 10**400 crashed the keyed run converting it to the pacer's float (exit 4), 5,000 digits
    in a string past Python's int limit, and -1 stopped the run at the catalog snapshot."""
    item = {"id": "m", "metadata": {"usage_information": {"rate_limit": rate}}}
    parsed = parse_ovh_models_v2([item, {**item, "id": "ok", "metadata": {"usage_information": {"rate_limit": 400}}}])
    assert [e.rate_limit_per_min for e in parsed.entries] == [None, 400]
    assert any("rate_limit is not a per-minute request count" in w for w in parsed.warnings), parsed.warnings


def test_a_profile_rate_limit_no_pacer_can_take_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Hand-made: a 400-digit rate_limit_per_min crashed a keyed run (exit 4, OverflowError)."""
    profile = tmp_path / "rate.toml"
    profile.write_text(HEAD + f"rate_limit_per_min = {'9' * 400}\n")
    assert cli.main(["run", "--provider", str(profile), "--out", str(tmp_path / "o")]) == cli.EXIT_INPUT
    _one_line(capsys, str(profile), "rate_limit_per_min", f"less than or equal to {MAX_PER_MINUTE}")


def test_a_body_cap_no_probe_can_build_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Hand-made: errors.body_over_cap builds a body a quarter over the cap, so body_cap_bytes = 10**12 (a typo)
    asked the allocator for a terabyte and died."""
    profile = tmp_path / "cap.toml"
    profile.write_text(HEAD + f"body_cap_bytes = {10**12}\n")
    assert cli.main(["run", "--provider", str(profile), "--out", str(tmp_path / "o")]) == cli.EXIT_INPUT
    _one_line(capsys, str(profile), "body_cap_bytes", f"less than or equal to {MAX_BODY_CAP_BYTES}")


@pytest.mark.parametrize(
    ("option", "said"),
    [
        (("--timeout", "inf"), "expected seconds above 0"),
        (("--timeout", "1e12"), "expected seconds above 0"),
        (("--timeout", "nan"), "expected seconds above 0"),
        (("--timeout", "-1"), "expected seconds above 0"),
        (("--rate-limit", "inf"), "expected requests per minute"),
        (("--rate-limit", "nan"), "expected requests per minute"),
        (("--rate-limit", "-1"), "expected requests per minute"),
    ],
)
def test_a_timeout_or_rate_no_socket_or_pacer_can_take_is_a_usage_error(
    option: tuple[str, str], said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Hand-made: --timeout inf or 1e12 crashed the socket layer (exit 4, OverflowError), --rate-limit inf the
    pacer; nan and -1 were lines naming neither option."""
    argv = ["run", "--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--out", str(tmp_path / "o"), *option]
    assert cli.main(argv) == cli.EXIT_INPUT
    _usage_error(capsys, option[0], said)
    if option[0] == "--timeout":
        assert cli.main(["models", "--base-url", "http://127.0.0.1:9/v1", *option]) == cli.EXIT_INPUT
        _usage_error(capsys, option[0], said)


def _usage_error(capsys: pytest.CaptureFixture[str], *fragments: str) -> None:
    """argparse's usage, then one line naming the option and what it takes."""
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and "internal error" not in err, err
    assert all(f in err.splitlines()[-1] for f in fragments), err
