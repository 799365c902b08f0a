"""`conformance diff`: a planted regression is flagged and the exit status says so."""

from __future__ import annotations

import json
from pathlib import Path

from conformance.cli import main
from conformance.diff import classify, diff, exit_status
from conformance.records import MatrixCell


def _matrix(**statuses: str) -> dict:
    return {"cells": [{"provider": "p", "model": "m", "probe": probe, "status": s} for probe, s in statuses.items()]}


def test_classify_ranks_statuses_by_usefulness() -> None:
    assert classify("FAIL", "PASS") == "improved"
    assert classify("PASS", "UNSUPPORTED") == "regressed"
    assert classify("UNSUPPORTED", "UNSUPPORTED") is None
    assert classify(None, "FAIL") == "added"
    assert classify("PASS", None) == "removed"
    assert classify("PASS", "WEIRD") == "changed"


def test_known_unsupported_is_not_a_regression() -> None:
    old = [MatrixCell.model_validate(c) for c in _matrix(a="UNSUPPORTED", b="PASS")["cells"]]
    assert exit_status(diff(old, old), old) == 0


def test_planted_regression_fails_the_cli(tmp_path: Path, capsys) -> None:
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(json.dumps(_matrix(a="PASS", b="FAIL", c="PASS")))
    new.write_text(json.dumps(_matrix(a="IGNORED", b="PASS", d="PASS")))
    assert main(["diff", str(old), str(new)]) == 1
    out = capsys.readouterr().out
    assert "regressed p m a: PASS -> IGNORED" in out
    assert "improved  p m b: FAIL -> PASS" in out
    assert "added     p m d" in out and "removed   p m c" in out


def test_harness_errors_exit_2_and_bad_input_exits_3_naming_the_file(tmp_path: Path, capsys) -> None:
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(json.dumps(_matrix(a="PASS")))
    server_error = _matrix(a="PASS", b="ERROR")
    server_error["cells"][1]["findings"] = [{"rule": "http.not_server_error", "level": "MUST", "message": "500"}]
    new.write_text(json.dumps(server_error))
    assert main(["diff", str(old), str(new)]) == 0, "a server's 5xx is judged by the baseline, not a harness error"
    harness = _matrix(a="PASS", b="ERROR")
    harness["cells"][1]["findings"] = [{"rule": "harness.transport", "level": "MUST", "message": "ReadTimeout"}]
    new.write_text(json.dumps(harness))
    assert main(["diff", str(old), str(new)]) == 2
    new.write_text("[]")
    assert main(["diff", str(old), str(new)]) == 3, "unreadable input is not a verdict"
    assert f"{new}: not a matrix" in capsys.readouterr().err


def test_every_layer_reads_the_one_status_table() -> None:
    """A status's rank, JUnit element, glyph and drift meaning come from conformance.evidence.STATUSES."""
    from conformance.catalog.model import drift
    from conformance.diff import NEUTRAL, RANK
    from conformance.evidence import STATUSES, Status
    from conformance.report.junit import OUTCOMES, PASSING
    from conformance.report.view import KNOWN

    assert set(STATUSES) == set(Status)
    assert list(KNOWN) == [s.value for s in Status]
    for status, info in STATUSES.items():
        name = status.value
        assert KNOWN[name].glyph == info.glyph and KNOWN[name].meaning == info.meaning
        assert RANK.get(name) == info.rank and (name in NEUTRAL) == (info.rank is None)
        assert OUTCOMES.get(name) == info.outcome.junit and (name in PASSING) == info.passing
        assert drift("yes", name) == (info.shows is False) and drift("no", name) == (info.shows is True)
    assert len({i.rank for i in STATUSES.values() if i.rank is not None}) == len(RANK), "ranks are distinct"
