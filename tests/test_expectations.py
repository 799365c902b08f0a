"""Expectations as data: written from a run, read back, compared cell by cell (hand-made cells, no recordings)."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance import expectations
from conformance.cli import main
from conformance.expectations import Expected
from conformance.records import MatrixCell

P = "peer"


def cell(probe: str, status: str, rule: str | None = None, model: str = "m") -> MatrixCell:
    findings = (
        []
        if rule is None
        else [{"rule": rule, "level": "MUST", "message": "x"}, {"rule": "other", "level": "INFO", "message": "y"}]
    )
    return MatrixCell.model_validate(
        {"provider": P, "model": model, "probe": probe, "status": status, "findings": findings}
    )


RUN = [
    cell("core.text_input", "NON-STRICT", "response.schema"),
    cell("tools.strict_enum", "FAIL", "http.not_server_error"),
    cell("state.previous_response_id", "UNSUPPORTED", "http.rejection"),
    cell("vision.base64_png", "PASS", "response.schema"),
    cell("parameters.user", "ACCEPTED", "response.echo_absent"),
]


def test_only_cells_that_are_not_pass_are_written_with_their_deciding_rule() -> None:
    """PASS and ACCEPTED have no deciding finding: their first finding is information, not a reason."""
    written = expectations.from_cells(RUN, P)
    assert written == {
        "m": {
            "core.text_input": Expected(status="NON-STRICT", rule="response.schema"),
            "tools.strict_enum": Expected(status="FAIL", rule="http.not_server_error"),
            "state.previous_response_id": Expected(status="UNSUPPORTED", rule="http.rejection"),
            "parameters.user": Expected(status="ACCEPTED"),
        }
    }


def test_the_file_reads_back_as_written(tmp_path: Path) -> None:
    written = expectations.from_cells(RUN, P)
    written["m"]["tools.strict_enum"] = Expected(status="FAIL", rule="x", known_intermittent=("ERROR",))
    path = tmp_path / "peer.toml"
    path.write_text(expectations.render(P, written))
    assert expectations.load(path) == written


@pytest.mark.parametrize(
    ("changed", "says"),
    [
        (
            cell("core.text_input", "FAIL", "response.schema"),
            "expected NON-STRICT (response.schema), got FAIL (response.schema)",
        ),
        (
            cell("core.text_input", "NON-STRICT", "response.fields"),
            "expected NON-STRICT (response.schema), got NON-STRICT (response.fields)",
        ),
        (cell("vision.base64_png", "IGNORED", "vision.names"), "expected PASS, got IGNORED (vision.names)"),
    ],
)
def test_a_changed_status_or_deciding_rule_is_a_difference(changed: MatrixCell, says: str) -> None:
    expected = expectations.from_cells(RUN, P)
    run = [changed if c.probe == changed.probe else c for c in RUN]
    assert [str(m) for m in expectations.compare(expected, run, P)] == [f"m {changed.probe}: {says}"]


def test_a_known_intermittent_status_and_an_unchanged_run_are_not_differences() -> None:
    expected = expectations.from_cells(RUN, P)
    assert expectations.compare(expected, RUN, P) == []
    expected["m"]["tools.strict_enum"] = Expected(status="FAIL", known_intermittent=("ERROR",))
    run = [
        cell("tools.strict_enum", "ERROR", "http.server_error_transient") if c.probe == "tools.strict_enum" else c
        for c in RUN
    ]
    assert expectations.compare(expected, run, P) == []


def test_an_expected_cell_missing_from_the_run_is_a_difference() -> None:
    expected = expectations.from_cells(RUN, P)
    (mismatch,) = expectations.compare(expected, RUN[1:], P)
    assert mismatch.probe == "core.text_input" and mismatch.got == "no such cell in the run"


def test_regenerating_keeps_the_reviewers_known_intermittent_statuses() -> None:
    old = {"m": {"tools.strict_enum": Expected(status="FAIL", known_intermittent=("ERROR",))}}
    new = expectations.carry_intermittent(expectations.from_cells(RUN, P), old)
    assert new["m"]["tools.strict_enum"].known_intermittent == ("ERROR",)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('["m"]\n"p" = { status = "GREAT" }\n', "unknown status ['GREAT']"),
        ('["m"]\n"p" = { state = "PASS" }\n', "m p:"),
        ('"m" = 3\n', "must be a table"),
        ('["m"\n', "cannot read expectations"),
    ],
)
def test_a_broken_file_is_one_clear_error(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "peer.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=r"peer\.toml") as caught:
        expectations.load(path)
    assert says in str(caught.value)


def test_the_command_updates_then_compares(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    run = tmp_path / "run"
    run.mkdir()
    (run / "matrix.json").write_text(json.dumps({"cells": [c.model_dump(mode="json") for c in RUN]}))
    folder = tmp_path / "expect"
    assert main(["expectations", str(run), "--dir", str(folder)]) == 1, "no file yet"
    assert main(["expectations", str(run), "--dir", str(folder), "--update"]) == 0
    assert main(["expectations", str(run), "--dir", str(folder)]) == 0
    changed = [cell("core.text_input", "FAIL", "x"), *RUN[1:]]
    (run / "matrix.json").write_text(json.dumps({"cells": [c.model_dump(mode="json") for c in changed]}))
    capsys.readouterr()
    assert main(["expectations", str(run), "--dir", str(folder)]) == 1
    assert "peer m core.text_input: expected NON-STRICT (response.schema), got FAIL (x)" in capsys.readouterr().out
